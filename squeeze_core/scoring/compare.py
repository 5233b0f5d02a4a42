"""Two evaluations of the same dataset and seeds compared the only sound way: paired on the same rows. Each
figure's difference (A minus B) is averaged over a row's seeds, then a paired bootstrap over rows gives its 95%
interval and p-value (``squeeze_core.paired``), since the seeds of one row are not independent cases."""

from __future__ import annotations

import csv
import os

import numpy as np

from ..errors import SqueezeError
from ..paired import paired_bootstrap
from .subject_scores import FIGURES


def _figures_by_image(path: str) -> dict[str, dict[tuple[str, str], float]]:
    """figure -> (line, seed) -> value, from a scores.csv."""
    if not os.path.isfile(path):
        raise SqueezeError(f"no scores file at {path}: give the scores.csv evaluate-dla wrote")
    with open(path, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return {name: {(row["line"], row["seed"]): float(row[name]) for row in rows if row.get(name)}
            for name in FIGURES}


def compare_scores(a: str, b: str, label_a: str = "A", label_b: str = "B") -> str:
    """A markdown table: per figure, A minus B over the images both score, paired by row."""
    first, second = _figures_by_image(a), _figures_by_image(b)
    lines = [f"| figure | {label_a} minus {label_b} (paired over rows) |", "|---|---|"]
    for name in FIGURES:
        shared = sorted(set(first[name]) & set(second[name]))
        if not shared:
            continue
        by_row: dict[str, list[float]] = {}
        for key in shared:
            by_row.setdefault(key[0], []).append(first[name][key] - second[name][key])
        differences = np.array([np.mean(values) for values in by_row.values()])
        lines.append(f"| {name} | {paired_bootstrap(differences, np.zeros_like(differences)).text()} |")
    if len(lines) == 2:
        raise SqueezeError(f"{a} and {b} share no (row, seed): compare evaluations of the same dataset and seeds")
    return "\n".join(lines)
