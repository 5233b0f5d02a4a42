"""Instructions over position, scale, background, rotation and count, and the exact scene each one asks for.

``render_scene`` gives the target image and the subject's mask; ``render_reference`` gives the
identity as a reference shows it (large, centred, upright, on grey), so a result that repeats that
layout when the instruction asks for another can be measured as copy-paste.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

from .domain.scenes import BACKGROUNDS
from .subjects import Subject, subject_sprite

SINGLE_POSITIONS = ("centre", "top left", "top right", "bottom left", "bottom right")
ROWS = ("top", "middle", "bottom")
SCALES = {"small": 3 / 8, "large": 5 / 8}
TURNS = ("", ", turned right", ", upside down", ", turned left")
MARGIN = 1 / 16


@dataclass(frozen=True)
class Instruction:
    position: str = "centre"
    scale: str = "large"
    background: str = "grey"
    quarter_turns: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if self.count not in (1, 2):
            raise ValueError(f"count is 1 or 2, not {self.count}")
        positions = SINGLE_POSITIONS if self.count == 1 else ROWS
        if self.position not in positions:
            raise ValueError(f"with count {self.count} the position is one of {positions}, not {self.position!r}")
        if self.count == 2 and self.scale != "small":
            raise ValueError("two subjects are always small")
        if self.scale not in SCALES or self.background not in BACKGROUNDS or self.quarter_turns not in range(4):
            raise ValueError(f"unknown scale, background or rotation in {self}")

    @property
    def text(self) -> str:
        if self.count == 1:
            placement = f"put it {self.scale} in the {self.position}"
        else:
            placement = f"put two of them small along the {self.position}"
        return f"{placement} on a {self.background} background{TURNS[self.quarter_turns]}"


REFERENCE_LAYOUT = Instruction()
"""How a reference shows its subject."""


def sample_instruction(rng: random.Random, two_subjects: float = 0.25) -> Instruction:
    turns = rng.randrange(4)
    background = rng.choice(sorted(BACKGROUNDS))
    if rng.random() < two_subjects:
        return Instruction(rng.choice(ROWS), "small", background, turns, 2)
    return Instruction(rng.choice(SINGLE_POSITIONS), rng.choice(sorted(SCALES)), background, turns, 1)


def all_instructions() -> list[Instruction]:
    placements = [(position, scale, 1) for position in SINGLE_POSITIONS for scale in SCALES]
    placements += [(row, "small", 2) for row in ROWS]
    return [Instruction(position, scale, background, turns, count) for position, scale, count in placements
            for background in BACKGROUNDS for turns in range(4)]


def subject_boxes(instruction: Instruction, size: int) -> list[tuple[int, int, int]]:
    """(top, left, side) of each subject in a size x size image."""
    side = round(size * SCALES[instruction.scale])
    margin = round(size * MARGIN)
    near, centre, far = margin, (size - side) // 2, size - side - margin
    if instruction.count == 2:
        top = {"top": near, "middle": centre, "bottom": far}[instruction.position]
        return [(top, size // 4 - side // 2, side), (top, 3 * size // 4 - side // 2, side)]
    vertical, _, horizontal = instruction.position.partition(" ")
    top = {"top": near, "bottom": far}.get(vertical, centre)
    left = {"left": near, "right": far}.get(horizontal, centre)
    return [(top, left, side)]


def render_scene(subject: Subject, instruction: Instruction, size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """(RGB uint8 [size, size, 3], subject mask bool [size, size]) of exactly what the instruction asks."""
    image = np.empty((size, size, 3), dtype=np.uint8)
    image[:] = BACKGROUNDS[instruction.background]
    mask = np.zeros((size, size), dtype=bool)
    for top, left, side in subject_boxes(instruction, size):
        pixels, shape = subject_sprite(subject, side, instruction.quarter_turns)
        window = image[top:top + side, left:left + side]
        window[shape] = pixels[shape]
        mask[top:top + side, left:left + side] |= shape
    return image, mask


def render_reference(subject: Subject, size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    return render_scene(subject, REFERENCE_LAYOUT, size)
