"""Cases of the domain: the subject(s), each reference picture's pose and ground, the instruction and the
target pose(s). The same seed always gives the same cases."""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

from .scenes import BACKGROUNDS, CANVAS, PAIR_LAYOUTS, POSITIONS, Instruction, Pose, render, target_poses
from .subjects import SPRITE, Subject

KIND_RATES = {"place": 0.35, "open": 0.15, "keep": 0.30, "pair": 0.20}
"""How often each kind of instruction is drawn: ``keep`` rewards copying the reference's pose, as real paired
data sometimes does; the others ask for another pose or leave it open. ``keep`` is common because copying at the
same place is how the transformer learns to read the references' latents at all: trained with it at 0.15 the
transformer's stage 2 drew held-out mid and fine bits at chance even on ``keep`` cases, at 0.45 it drew them at
0.78 and 0.80 there (issue 13; README)."""


@dataclass(frozen=True)
class Case:
    subjects: tuple[Subject, ...]
    reference_poses: tuple[Pose, ...]
    reference_grounds: tuple[str, ...]
    instruction: Instruction
    target_poses: tuple[Pose, ...]


def _pose(rng: random.Random) -> Pose:
    return Pose(rng.choice(POSITIONS), rng.randrange(4))


def draw_case(rng: random.Random, subjects: list[Subject]) -> Case:
    grounds = sorted(BACKGROUNDS)
    kind = rng.choices(list(KIND_RATES), weights=list(KIND_RATES.values()))[0]
    count = 2 if kind == "pair" else 1
    chosen = tuple(rng.sample(subjects, count))
    references = tuple(_pose(rng) for _ in chosen)
    reference_grounds = tuple(rng.choice(grounds) for _ in chosen)
    place = rng.choice(sorted(PAIR_LAYOUTS) if kind == "pair" else POSITIONS)
    instruction = Instruction(kind, rng.choice(grounds), place, rng.randrange(4))
    targets = tuple(target_poses(instruction, references[0], rng.randrange(4)))
    return Case(chosen, references, reference_grounds, instruction, targets)


def draw_cases(count: int, subjects: list[Subject], seed: int) -> list[Case]:
    rng = random.Random(seed)
    return [draw_case(rng, subjects) for _ in range(count)]


def render_case(case: Case) -> tuple[list[np.ndarray], np.ndarray, list[np.ndarray]]:
    """(one reference picture per subject, the target picture, one target mask per subject)."""
    references = [render([subject], [pose], ground)[0]
                  for subject, pose, ground in zip(case.subjects, case.reference_poses, case.reference_grounds)]
    target, masks = render(list(case.subjects), list(case.target_poses), case.instruction.background)
    return references, target, masks


def instructed_boxes(case: Case) -> tuple[tuple[float, float, float, float], ...] | None:
    """Where a two-subject instruction puts each picture's subject, as (left, top, right, bottom) fractions of
    the canvas: the regions a user would draw for it. None for the one-subject kinds."""
    if case.instruction.kind != "pair":
        return None
    boxes = []
    for pose in case.target_poses:
        top, left = pose.origin
        boxes.append((left / CANVAS, top / CANVAS, (left + SPRITE) / CANVAS, (top + SPRITE) / CANVAS))
    return tuple(boxes)
