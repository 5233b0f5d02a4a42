"""Procedural subjects with exact ground truth: an subject is a shape, a texture and a two-colour palette.

Built for a miniature that has to learn subject in minutes on a CPU: few shapes, coarse textures,
saturated subject colours (backgrounds are unsaturated, so a subject is always separable from its
ground), and a deterministic split of subjects into train and held-out sets.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from itertools import permutations, product

import numpy as np

SHAPES = ("disc", "square", "triangle", "cross")
TEXTURES = ("solid", "stripes", "checker")
HUES = {
    "red": (220, 40, 40), "orange": (240, 140, 20), "yellow": (235, 215, 30), "green": (40, 170, 60),
    "cyan": (30, 190, 200), "blue": (40, 70, 220), "purple": (130, 50, 190), "magenta": (220, 40, 170),
}
TEXTURE_PERIOD = 8
"""Pixels per stripe or checker cell: coarse, so a tiny VAE keeps it."""
RIM = 2
"""A solid subject's rim, in pixels, in its second colour: every texture shows both colours."""


@dataclass(frozen=True)
class Subject:
    shape: str
    texture: str
    primary: str
    secondary: str

    def __post_init__(self) -> None:
        if self.shape not in SHAPES or self.texture not in TEXTURES:
            raise ValueError(f"unknown shape or texture in {self}; shapes {SHAPES}, textures {TEXTURES}")
        if self.primary not in HUES or self.secondary not in HUES or self.primary == self.secondary:
            raise ValueError(f"a palette is two different colours of {sorted(HUES)}; got {self}")

    @property
    def name(self) -> str:
        return f"{self.primary}-{self.secondary} {self.texture} {self.shape}"

    @property
    def description(self) -> str:
        """How the miniature's MLLM learns to describe it."""
        return f"a {self.primary} and {self.secondary} {self.texture} {self.shape}"


def all_subjects() -> list[Subject]:
    return [Subject(shape, texture, first, second) for shape, texture, (first, second)
            in product(SHAPES, TEXTURES, permutations(HUES, 2))]


def split_subjects(held_out_fraction: float = 0.3, seed: int = 0) -> tuple[list[Subject], list[Subject]]:
    """(train, held-out): a fixed shuffle of every subject, so both sides see every shape, texture and hue."""
    subjects = all_subjects()
    random.Random(seed).shuffle(subjects)
    cut = round(len(subjects) * held_out_fraction)
    return subjects[cut:], subjects[:cut]


def _shape_mask(shape: str, size: int) -> np.ndarray:
    """The shape filling a size x size box, pointing up (the cross is a Latin cross, its bar high)."""
    yy, xx = (np.mgrid[:size, :size] + 0.5) / size
    if shape == "disc":
        return (yy - 0.5) ** 2 + (xx - 0.5) ** 2 <= 0.25
    if shape == "square":
        return np.ones((size, size), dtype=bool)
    if shape == "triangle":
        return np.abs(xx - 0.5) <= yy / 2
    return (np.abs(xx - 0.5) <= 1 / 6) | ((yy >= 0.2) & (yy <= 0.45))


def _texture(subject: Subject, mask: np.ndarray) -> np.ndarray:
    size = mask.shape[0]
    yy, xx = np.mgrid[:size, :size]
    if subject.texture == "stripes":
        second = (yy // TEXTURE_PERIOD) % 2 == 1
    elif subject.texture == "checker":
        second = ((yy // TEXTURE_PERIOD) + (xx // TEXTURE_PERIOD)) % 2 == 1
    else:
        inner = mask.copy()
        for axis in (0, 1):
            for shift in range(1, RIM + 1):
                inner &= np.roll(mask, shift, axis) & np.roll(mask, -shift, axis)
        inner[:RIM], inner[-RIM:], inner[:, :RIM], inner[:, -RIM:] = False, False, False, False
        second = mask & ~inner
    pixels = np.empty((size, size, 3), dtype=np.uint8)
    pixels[:] = HUES[subject.primary]
    pixels[second] = HUES[subject.secondary]
    return pixels


def subject_sprite(subject: Subject, size: int, quarter_turns: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(RGB uint8 [size, size, 3], mask bool [size, size]) of the subject turned by 90-degree steps."""
    mask = _shape_mask(subject.shape, size)
    pixels = _texture(subject, mask)
    return np.rot90(pixels, -quarter_turns).copy(), np.rot90(mask, -quarter_turns).copy()
