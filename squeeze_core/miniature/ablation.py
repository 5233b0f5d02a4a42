"""The miniature's evaluation and ablation table: the shipped model against a random-reference baseline,
and each of the paper's design choices against its alternative, on the same held-out cases."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

from ..pipeline import SqueezePipeline
from ..schedule import StageSchedule
from .evaluation import CRITERIA, Scores, generate, held_out_cases, random_references, score
from .shipped import SHIPPED_VISION_RESOLUTION, MiniatureFiles
from .spec import MiniatureSpec

logger = logging.getLogger("squeeze.evaluation")
SEMANTIC_ONLY = StageSchedule.custom(((0.0, 1.0),), ((0.0, 0.0),))
"""Phases off: the MLLM's conditioning alone on every step, no identity latents."""
DEFAULT_SCHEDULE = StageSchedule.semantic_first(0.1, 0.3)
"""What the example workflow runs: identity ramps in from 10% to 30% of the trajectory."""
COLUMNS = ("instruction", "palette", "shape", "texture")


@dataclass
class Row:
    name: str
    scores: Scores
    note: str = ""


@dataclass
class Report:
    cases: int
    rows: list[Row] = field(default_factory=list)

    def markdown(self) -> str:
        header = "| run | " + " | ".join(COLUMNS) + " | copy-paste IoU |"
        lines = [f"{self.cases} held-out cases; rates with 95% Wilson intervals, copy-paste as mean IoU with the "
                 f"reference's own layout (95% interval)", "", header, "|---" * (len(COLUMNS) + 2) + "|"]
        for row in self.rows:
            cells = [str(row.scores.rates[name]) for name in COLUMNS] + [str(row.scores.copy_paste)]
            lines.append(f"| {row.name} | " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def as_dict(self) -> dict:
        return {"cases": self.cases, "rows": [
            {"name": row.name, **{name: row.scores.rates[name].__dict__ for name in CRITERIA},
             "copy_paste": row.scores.copy_paste.__dict__} for row in self.rows]}


def miniature_pipeline(files: MiniatureFiles, base: MiniatureFiles, text_only: bool = False):
    """The first domain's pipeline: the transformer (and DLA, if any) of ``files`` on the MLLM and VAE of ``base``."""
    dla = files.dla if os.path.exists(files.dla) else None
    return SqueezePipeline.from_files(base.mllm, files.diffusion, base.vae, dla,
                                      vision_resolution=SHIPPED_VISION_RESOLUTION, text_only=text_only)


def run_evaluation(root: str | os.PathLike, *, cases: int = 200, steps: int = 20, ablations: str | None = None,
                   seed: int = 0, spec: MiniatureSpec = MiniatureSpec()) -> Report:
    """Scores of the miniature in ``root`` (its default schedule) and of the random-reference baseline; with
    ``ablations`` (a folder holding ``last_layer``, ``text_only`` and ``stage_1`` runs) the full table."""
    base = MiniatureFiles(os.fspath(root))
    chosen = held_out_cases(cases, seed)
    report = Report(len(chosen))
    full = miniature_pipeline(base, base)

    def add(name: str, pipeline: SqueezePipeline, schedule: StageSchedule, given=None) -> None:
        images = generate(pipeline, given or chosen, schedule, steps=steps, seed=seed, image_size=spec.image_size)
        report.rows.append(Row(name, score(images, chosen, chosen)))

    shipped = DEFAULT_SCHEDULE
    add("Squeeze miniature (DLA, joint encoding, VAE identity, semantic_first)", full, shipped)
    add("baseline: a random held-out subject as reference", full, shipped, random_references(chosen, seed))
    if ablations is None:
        return report
    paper = StageSchedule.paper()
    add("three phases (paper: MLLM only, joint, then VAE-focused)", full, paper)
    add("phases off: always-on identity", full, StageSchedule.always())
    add("phases off: MLLM only throughout (no identity latents)", full, SEMANTIC_ONLY)
    variants = {
        "stage_1": ("no VAE identity training (the stage-1 model: MLLM only)", SEMANTIC_ONLY, False),
        "last_layer": ("last MLLM layer only (trained without a DLA)", shipped, False),
        "text_only": ("text-only MLLM encoding (trained without joint encoding)", shipped, True),
    }
    for folder, (name, schedule, text_only) in variants.items():
        files = MiniatureFiles(os.path.join(os.fspath(ablations), folder))
        if not os.path.exists(files.diffusion):
            logger.warning("no %s run in %s: its ablation row is left out", folder, ablations)
            continue
        add(name, miniature_pipeline(files, base, text_only=text_only), schedule)
    return report
