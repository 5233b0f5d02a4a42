"""Subjects whose identity comes in three grains, each readable exactly from pixels.

A subject is a 32 x 32 sprite: a square of 8-pixel blocks with some outer blocks cut away.
- Coarse (nameable; the MLLM is taught it): the shape (which outer blocks are cut; every shape's four
  quarter-turns differ, so a picture shows its orientation) and an ordered palette: the first colour fills the
  central 16 x 16 code area, the second the outer ring.
- Mid (visible to the MLLM's low-pass view, never named): one bit per central 8 x 8 block, whether its stripes
  are a light or a dark shade of the first colour.
- Fine (invisible at low pass): one bit per central 4 x 4 cell, whether its two-pixel stripes run across or
  down. Both orientations have the same mean colour over the cell, so a view that averages 4 x 4 pixels (the
  MLLM's) loses them exactly; the VAE sees them at full resolution.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

SPRITE = 32
BLOCK = 8
CELL = 4
STRIPE = 2
"""Stripe width inside a fine cell: two stripes per cell, one of each shade."""
CODE_ORIGIN = 8
"""The code area is the central 16 x 16 pixels (blocks (1, 1) to (2, 2)), which no shape cuts."""
MID_BITS = 4
FINE_BITS = 16
SHAPE_CUTS = {
    "corner": ((0, 0),),
    "notch": ((0, 1), (0, 2)),
    "step": ((0, 0), (0, 1)),
    "tee": ((1, 0), (2, 0), (3, 0), (1, 3), (2, 3), (3, 3)),
}
"""(row, column) of the 8 x 8 blocks each shape cuts from the square, pointing up (turn 0)."""
SHAPES = tuple(SHAPE_CUTS)
HUES = {
    "red": (220, 40, 40), "orange": (240, 140, 20), "yellow": (235, 215, 30), "green": (40, 170, 60),
    "cyan": (30, 190, 200), "blue": (40, 70, 220), "purple": (130, 50, 190), "magenta": (220, 40, 170),
}
LIGHT, DARK = 0.3, 0.6
"""A light shade mixes this much white in; a dark one keeps this much of the colour."""


@dataclass(frozen=True)
class Subject:
    shape: str
    primary: str
    secondary: str
    mid: int
    """MID_BITS bits: bit k set = central block k (row-major) striped with the light shade."""
    fine: int
    """FINE_BITS bits: bit k set = central cell k (row-major) striped across (stripes run left to right)."""

    def __post_init__(self) -> None:
        if self.shape not in SHAPE_CUTS:
            raise ValueError(f"unknown shape {self.shape!r}; shapes are {SHAPES}")
        if self.primary not in HUES or self.secondary not in HUES or self.primary == self.secondary:
            raise ValueError(f"a palette is two different colours of {sorted(HUES)}; got {self}")
        if not 0 <= self.mid < 2**MID_BITS or not 0 <= self.fine < 2**FINE_BITS:
            raise ValueError(f"mid is {MID_BITS} bits and fine {FINE_BITS} bits; got {self}")

    @property
    def description(self) -> str:
        """The coarse grain in words: what the miniature's MLLM is taught to say."""
        return f"a {self.primary} and {self.secondary} {self.shape}"


def bits(code: int, count: int) -> np.ndarray:
    return np.array([(code >> k) & 1 for k in range(count)], dtype=bool)


def sample_subjects(count: int, seed: int, exclude_fine: frozenset[int] = frozenset()) -> list[Subject]:
    """``count`` subjects with random grains; fine codes in ``exclude_fine`` are never drawn."""
    rng = random.Random(seed)
    hues = sorted(HUES)
    subjects = []
    while len(subjects) < count:
        primary, secondary = rng.sample(hues, 2)
        fine = rng.randrange(2**FINE_BITS)
        if fine not in exclude_fine:
            subjects.append(Subject(rng.choice(SHAPES), primary, secondary, rng.randrange(2**MID_BITS), fine))
    return subjects


def split_subjects(train: int = 4000, held_out: int = 1000, seed: int = 0) -> tuple[list[Subject], list[Subject]]:
    """(train, held-out): held-out subjects carry fine codes no training subject has."""
    training = sample_subjects(train, seed)
    return training, sample_subjects(held_out, seed + 1, frozenset(subject.fine for subject in training))


def shape_mask(shape: str) -> np.ndarray:
    mask = np.ones((SPRITE, SPRITE), dtype=bool)
    for row, column in SHAPE_CUTS[shape]:
        mask[row * BLOCK:(row + 1) * BLOCK, column * BLOCK:(column + 1) * BLOCK] = False
    return mask


def shade(hue: str, light: bool) -> np.ndarray:
    colour = np.asarray(HUES[hue], dtype=np.float32)
    mixed = colour * (1 - LIGHT) + 255 * LIGHT if light else colour * DARK
    return mixed.round().astype(np.uint8)


def _code_area(subject: Subject) -> np.ndarray:
    area = np.empty((2 * BLOCK, 2 * BLOCK, 3), dtype=np.uint8)
    area[:] = HUES[subject.primary]
    yy, xx = np.mgrid[:CELL, :CELL]
    light, across = bits(subject.mid, MID_BITS), bits(subject.fine, FINE_BITS)
    cells = 2 * BLOCK // CELL
    for k in range(FINE_BITS):
        row, column = divmod(k, cells)
        block = (row * CELL // BLOCK) * 2 + column * CELL // BLOCK
        stripes = (yy if across[k] else xx) // STRIPE % 2 == 1
        window = area[row * CELL:(row + 1) * CELL, column * CELL:(column + 1) * CELL]
        window[stripes] = shade(subject.primary, bool(light[block]))
    return area


def subject_sprite(subject: Subject, quarter_turns: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(RGB uint8 [32, 32, 3], mask bool [32, 32]) of the subject turned clockwise by 90-degree steps."""
    pixels = np.empty((SPRITE, SPRITE, 3), dtype=np.uint8)
    pixels[:] = HUES[subject.secondary]
    pixels[CODE_ORIGIN:CODE_ORIGIN + 2 * BLOCK, CODE_ORIGIN:CODE_ORIGIN + 2 * BLOCK] = _code_area(subject)
    mask = shape_mask(subject.shape)
    return np.rot90(pixels, -quarter_turns).copy(), np.rot90(mask, -quarter_turns).copy()
