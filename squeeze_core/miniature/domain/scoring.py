"""One result scored against its case, every figure exact: the instruction (ground, count, position,
orientation), the identity of each subject in three grains, copy-paste, and, for two subjects, the leak of one
subject's coarse attributes onto the other."""

from __future__ import annotations

import numpy as np

from .cases import Case
from .metrics import SubjectReading, read_picture

COARSE = ("shape", "primary", "secondary")
GRAINS = ("shape", "palette", "mid", "fine")
"""Identity as scored: coarse (shape; palette in order), mid and fine bit accuracy."""


def _turn_distance(a: int, b: int) -> float:
    """Degrees between two quarter-turn orientations: 0, 90 or 180."""
    steps = abs(a - b) % 4
    return 90.0 * min(steps, 4 - steps)


def _leak(readings: list[SubjectReading | None], case: Case) -> float | None:
    """Share of the coarse attributes where the subjects differ that a slot shows with the other subject's value."""
    shown, compared = 0, 0
    for slot, reading in enumerate(readings):
        if reading is None:
            continue
        own, other = case.subjects[slot], case.subjects[1 - slot]
        for attribute in COARSE:
            if getattr(own, attribute) != getattr(other, attribute):
                compared += 1
                shown += getattr(reading, attribute) == getattr(other, attribute)
    return shown / compared if compared else None


def score_case(image: np.ndarray, case: Case) -> dict[str, float]:
    """Figures of one result; ``copy``, ``open_distance``, ``leak``, and ``row`` and ``column`` (where the largest
    subject of a one-subject case sits, each axis on its own) only where the case defines them."""
    picture = read_picture(image)
    by_position = {reading.position: reading for reading in picture.subjects}
    readings = [by_position.get(pose.position) for pose in case.target_poses]
    placed = [reading is not None for reading in readings]
    turned = [reading is not None and reading.quarter_turns == pose.quarter_turns
              for reading, pose in zip(readings, case.target_poses)]
    scores = {"background": float(picture.background == case.instruction.background),
              "count": float(picture.count == len(case.subjects)), "position": float(all(placed))}
    scores["orientation"] = float(all(turned)) if case.instruction.kind != "open" else float(all(placed))
    scores["instruction"] = float(all(scores[name] for name in ("background", "count", "position", "orientation")))
    grains = [reading.grains(subject) if reading is not None else dict.fromkeys(GRAINS, 0.0)
              for reading, subject in zip(readings, case.subjects)]
    for grain in GRAINS:
        scores[grain] = float(np.mean([found[grain] for found in grains]))
    reference_turns = case.reference_poses[0].quarter_turns
    shown = readings[0]
    if case.instruction.kind == "place" and case.instruction.quarter_turns != reference_turns and shown is not None:
        scores["copy"] = float(shown.quarter_turns == reference_turns)
    if case.instruction.kind == "open" and shown is not None:
        scores["open_distance"] = _turn_distance(shown.quarter_turns, reference_turns)
    if len(case.subjects) == 1 and picture.subjects:
        shown_row, shown_column = picture.subjects[0].position.split(" ")
        row, column = case.target_poses[0].position.split(" ")
        scores["row"], scores["column"] = float(shown_row == row), float(shown_column == column)
    if case.instruction.kind == "pair":
        leak = _leak(readings, case)
        if leak is not None:
            scores["leak"] = leak
    return scores
