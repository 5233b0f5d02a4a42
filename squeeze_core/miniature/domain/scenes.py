"""Poses, instructions and the exact pictures they describe, on a 64 x 64 canvas.

A pose is a position on an 8-pixel-aligned 3 x 3 grid and a quarter-turn. References show their subject at a
random pose on a random ground, so a result that repeats the reference's pose when the instruction asks for
another is measurable copy-paste. Instructions come in four kinds:
- ``place``: position, ground and absolute orientation are all given;
- ``open``: position and ground given, orientation left open (the target's is drawn independently);
- ``keep``: "keep its pose" on a new ground (the target repeats the reference's pose: copying is right here,
  as in real paired data);
- ``pair``: the subjects of two pictures in one scene, each at its own place, both upright.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from .subjects import SPRITE, Subject, subject_sprite

CANVAS = 64
ROWS = {"top": 0, "middle": 16, "bottom": 32}
COLUMNS = {"west": 0, "centre": 16, "east": 32}
"""Not left and right: the turns ("turned left") use those words, and with them the tiny MLLM's instruction
tokens carried the column so weakly that the transformer never learnt it (issue 13; README)."""
POSITIONS = tuple(f"{row} {column}" for row in ROWS for column in COLUMNS)
PAIR_LAYOUTS = {"top west and bottom east": ("top west", "bottom east"),
                "top east and bottom west": ("top east", "bottom west")}
"""Two subjects on diagonal corners: their sprites meet at one point at most, so they never merge."""
BACKGROUNDS = {
    "white": (235, 235, 235), "grey": (128, 128, 128), "dark": (30, 30, 34), "sand": (200, 185, 150),
    "sky": (170, 195, 215),
}
TURNS = ("upright", "turned right", "upside down", "turned left")
KINDS = ("place", "open", "keep", "pair")


@dataclass(frozen=True)
class Pose:
    position: str = "middle centre"
    quarter_turns: int = 0

    def __post_init__(self) -> None:
        if self.position not in POSITIONS or self.quarter_turns not in range(4):
            raise ValueError(f"a pose is one of {POSITIONS} and 0-3 quarter-turns; got {self}")

    @property
    def origin(self) -> tuple[int, int]:
        row, column = self.position.split(" ")
        return ROWS[row], COLUMNS[column]


@dataclass(frozen=True)
class Instruction:
    kind: str
    background: str
    position: str = "middle centre"
    """The target position (``place``, ``open``) or the pair layout (``pair``); unused by ``keep``."""
    quarter_turns: int = 0
    """The target orientation for ``place``; ``open`` and ``keep`` take theirs from elsewhere."""

    def __post_init__(self) -> None:
        places = PAIR_LAYOUTS if self.kind == "pair" else POSITIONS
        if self.kind not in KINDS or self.background not in BACKGROUNDS or self.position not in places:
            raise ValueError(f"unknown kind, ground or position in {self}")

    @property
    def text(self) -> str:
        ground = f"on a {self.background} background"
        if self.kind == "keep":
            return f"keep its pose, {ground}"
        if self.kind == "pair":
            first, second = PAIR_LAYOUTS[self.position]
            return f"picture 1 in the {first}, picture 2 in the {second}, both upright, {ground}"
        placed = f"put it in the {self.position} {ground}"
        return placed if self.kind == "open" else f"{placed}, {TURNS[self.quarter_turns]}"


def render(subjects: list[Subject], poses: list[Pose], background: str) -> tuple[np.ndarray, list[np.ndarray]]:
    """(RGB uint8 [64, 64, 3], one bool mask per subject) of the subjects at their poses on the ground."""
    image = np.empty((CANVAS, CANVAS, 3), dtype=np.uint8)
    image[:] = BACKGROUNDS[background]
    masks = []
    for subject, pose in zip(subjects, poses):
        pixels, shape = subject_sprite(subject, pose.quarter_turns)
        top, left = pose.origin
        window = image[top:top + SPRITE, left:left + SPRITE]
        window[shape] = pixels[shape]
        mask = np.zeros((CANVAS, CANVAS), dtype=bool)
        mask[top:top + SPRITE, left:left + SPRITE] = shape
        masks.append(mask)
    return image, masks


def target_poses(instruction: Instruction, reference: Pose, open_turns: int) -> list[Pose]:
    """Where the target shows its subject(s): ``open_turns`` fills the orientation an ``open`` one leaves free."""
    if instruction.kind == "keep":
        return [reference]
    if instruction.kind == "pair":
        return [Pose(position, 0) for position in PAIR_LAYOUTS[instruction.position]]
    turns = open_turns if instruction.kind == "open" else instruction.quarter_turns
    return [Pose(instruction.position, turns)]


def describe(subjects: list[Subject], poses: list[Pose], background: str) -> str:
    """A picture in words, coarse grain only: what the miniature's MLLM is taught to say about what it sees.
    Mid and fine bits are never named, so what the MLLM keeps of them comes from seeing them alone."""
    shown = [f"{subject.description}, {TURNS[pose.quarter_turns]}, in the {pose.position}"
             for subject, pose in zip(subjects, poses)]
    return f"{' and '.join(shown)}, on a {background} background"


DESCRIBED_SUBJECT = re.compile(rf"\ba (\w+) and (\w+) (\w+), (?:{'|'.join(TURNS)}), in the (\w+) (\w+)")
"""One subject as ``describe`` words it: its palette, shape, turn and place."""


def read_description(text: str) -> list[tuple[str, str, str, str, str]]:
    """(primary, secondary, shape, row, column) of each subject a ``describe``-style text names, in order."""
    return DESCRIBED_SUBJECT.findall(text)
