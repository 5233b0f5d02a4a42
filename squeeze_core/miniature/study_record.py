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


def read_record(path: str, *, cases: int, steps: int, seed: int) -> dict[tuple, Scorecard]:
    """Scorecards by sampling (``Setup.sampling``) from ``path``; none if it does not exist yet."""
    if not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as handle:
        record = json.load(handle)
    wanted = _settings(cases, steps, seed)
    found = {name: record.get(name) for name in wanted}
    if found != wanted:
        raise RecordMismatch(f"{path} holds figures of {found}, not {wanted}: give another --json file, or the "
                             f"same --cases, --steps and --seed")
    return {tuple(entry["sampling"]): Scorecard({name: np.array([np.nan if value is None else value
                                                                 for value in values], dtype=float)
                                                 for name, values in entry["figures"].items()})
            for entry in record["setups"]}


def write_record(path: str, setups: list[Setup], cards: dict[str, Scorecard], *, cases: int, steps: int,
                 seed: int, earlier: dict[tuple, Scorecard] | None = None) -> None:
    """Every setup's figures per case (and any ``earlier`` ones this run did not list, under the names the file
    gave them), with the settings."""
    scored = dict(earlier or {})
    names = {}
    if earlier and os.path.exists(path):
        with open(path, encoding="utf-8") as handle:
            names = {tuple(entry["sampling"]): entry["name"] for entry in json.load(handle)["setups"]}
    listed = {}
    for setup in setups:
        scored[setup.sampling] = cards[setup.name]
        listed.setdefault(setup.sampling, setup.name)
    names.update(listed)
    entries = [{"name": names.get(sampling, ""), "sampling": list(sampling), "figures": card.as_lists()}
               for sampling, card in scored.items()]
    with open(path, "w", encoding="utf-8") as handle:
        json.dump({**_settings(cases, steps, seed), "setups": entries}, handle)
