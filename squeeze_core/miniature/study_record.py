"""A study's per-case figures on disk: every scored setup with the sampling that made its images and the cases,
steps and noise seed it was scored at, so a study that grows run by run (``train-study`` across sessions) samples
only its new setups and pairs them with the old ones on the same cases."""

from __future__ import annotations

import json
import os

import numpy as np

from .scorecard import Scorecard
from .study import Setup


class RecordMismatch(ValueError):
    """The record was scored on other cases, steps or noise: its figures cannot be paired with new ones."""


def _settings(cases: int, steps: int, seed: int) -> dict[str, int]:
    return {"cases": cases, "steps": steps, "seed": seed}


Record = dict[tuple, tuple[str, Scorecard]]
"""Per sampling (``Setup.sampling``): the name it was listed under and its scorecard."""


def read_record(path: str, *, cases: int, steps: int, seed: int) -> Record:
    """What ``path`` holds; nothing if it does not exist yet."""
    if not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as handle:
        record = json.load(handle)
    wanted = _settings(cases, steps, seed)
    found = {name: record.get(name) for name in wanted}
    if found != wanted:
        raise RecordMismatch(f"{path} holds figures of {found}, not {wanted}: give another --json file, or the "
                             f"same --cases, --steps and --seed")
    return {tuple(entry["sampling"]): (entry["name"], Scorecard({
        name: np.array([np.nan if value is None else value for value in values], dtype=float)
        for name, values in entry["figures"].items()})) for entry in record["setups"]}


def cards_of(record: Record) -> dict[tuple, Scorecard]:
    return {sampling: card for sampling, (_, card) in record.items()}


def with_setups(record: Record, setups: list[Setup], cards: dict[str, Scorecard]) -> Record:
    """The record and this run's setups (a sampling listed under two names keeps the first)."""
    merged = dict(record)
    for setup in reversed(setups):
        merged[setup.sampling] = (setup.name, cards[setup.name])
    return merged


def write_record(path: str, record: Record, *, cases: int, steps: int, seed: int) -> None:
    entries = [{"name": name, "sampling": list(sampling), "figures": card.as_lists()}
               for sampling, (name, card) in record.items()]
    with open(path, "w", encoding="utf-8") as handle:
        json.dump({**_settings(cases, steps, seed), "setups": entries}, handle)
