"""Exact readings of a picture of the domain: where each subject is, its orientation, and its identity in
three grains, read after undoing the orientation the picture shows (so a wrong turn is charged to the
instruction, never to identity).

Shape and turn are the cut pattern that best overlaps the subject's silhouette; the palette is the hue of the
code area (first colour, read by hue angle, as its stripes are shades of it) and the colour of the ring
(second); a mid bit is whether its block is lighter or darker than the first colour; a fine bit is whether
its cell's stripes run across or down.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .reading import nearest, read_scene
from .scenes import BACKGROUNDS, CANVAS, POSITIONS, Pose
from .subjects import (
    BLOCK, CELL, CODE_ORIGIN, FINE_BITS, HUES, MID_BITS, SHAPES, SPRITE, Subject, bits, shade, shape_mask,
)

LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@dataclass(frozen=True)
class SubjectReading:
    position: str
    shape: str
    quarter_turns: int
    primary: str
    secondary: str
    mid: np.ndarray
    fine: np.ndarray

    def grains(self, subject: Subject) -> dict[str, float]:
        """Coarse (shape; palette in order), mid and fine accuracy against ``subject``."""
        return {"shape": float(self.shape == subject.shape),
                "palette": float((self.primary, self.secondary) == (subject.primary, subject.secondary)),
                "mid": float((self.mid == bits(subject.mid, MID_BITS)).mean()),
                "fine": float((self.fine == bits(subject.fine, FINE_BITS)).mean())}


def _hue(colours: np.ndarray) -> np.ndarray:
    """Hue angles in degrees of RGB rows [N, 3]."""
    r, g, b = (colours / 255.0).T
    return (np.degrees(np.arctan2(np.sqrt(3.0) * (g - b), 2 * r - g - b)) + 360.0) % 360.0


HUE_ANGLES = {name: float(_hue(np.asarray([rgb], dtype=np.float32))[0]) for name, rgb in HUES.items()}


def _by_hue(colours: np.ndarray) -> str:
    angles = _hue(colours)
    names = list(HUE_ANGLES)
    gaps = np.abs(angles[:, None] - np.asarray([HUE_ANGLES[name] for name in names])[None])
    votes = np.argmin(np.minimum(gaps, 360.0 - gaps), axis=1)
    return names[int(np.bincount(votes, minlength=len(names)).argmax())]


def _luma(pixels: np.ndarray) -> np.ndarray:
    return pixels.astype(np.float32) @ LUMA


def _fine_bits(code: np.ndarray) -> np.ndarray:
    luma = _luma(code)
    found = []
    for k in range(FINE_BITS):
        row, column = divmod(k, code.shape[1] // CELL)
        cell = luma[row * CELL:(row + 1) * CELL, column * CELL:(column + 1) * CELL]
        found.append(np.abs(np.diff(cell, axis=0)).sum() > np.abs(np.diff(cell, axis=1)).sum())
    return np.asarray(found)


def _mid_bits(code: np.ndarray, primary: str) -> np.ndarray:
    base = np.asarray(HUES[primary], dtype=np.float32)
    light = _luma((base + shade(primary, True)) / 2)
    dark = _luma((base + shade(primary, False)) / 2)
    luma = _luma(code)
    blocks = [luma[r * BLOCK:(r + 1) * BLOCK, c * BLOCK:(c + 1) * BLOCK].mean() for r in (0, 1) for c in (0, 1)]
    return np.asarray(blocks) > (light + dark) / 2


def read_subject(image: np.ndarray, foreground: np.ndarray, position: str) -> SubjectReading:
    """The subject whose sprite box sits at ``position``, read upright."""
    top, left = Pose(position).origin
    window = (slice(top, top + SPRITE), slice(left, left + SPRITE))
    pixels, silhouette = image[window], foreground[window]
    shape, turns = max(((shape, turns) for shape in SHAPES for turns in range(4)),
                       key=lambda pair: _iou(np.rot90(shape_mask(pair[0]), -pair[1]), silhouette))
    upright, mask = np.rot90(pixels, turns), np.rot90(silhouette, turns) & shape_mask(shape)
    code = upright[CODE_ORIGIN:CODE_ORIGIN + 2 * BLOCK, CODE_ORIGIN:CODE_ORIGIN + 2 * BLOCK]
    ring = mask.copy()
    ring[CODE_ORIGIN:CODE_ORIGIN + 2 * BLOCK, CODE_ORIGIN:CODE_ORIGIN + 2 * BLOCK] = False
    primary = _by_hue(code.reshape(-1, 3).astype(np.float32))
    ring_names = [nearest(colour, HUES) for colour in upright[ring].astype(np.float32)] or [primary]
    values, counts = np.unique(ring_names, return_counts=True)
    return SubjectReading(position, shape, turns, primary, str(values[counts.argmax()]),
                          _mid_bits(code, primary), _fine_bits(code))


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 0.0


def _box(position: str) -> np.ndarray:
    top, left = Pose(position).origin
    box = np.zeros((CANVAS, CANVAS), dtype=bool)
    box[top:top + SPRITE, left:left + SPRITE] = True
    return box


@dataclass(frozen=True)
class SceneReading:
    background: str
    count: int
    subjects: tuple[SubjectReading, ...]
    """One per region, largest first, each read at the grid position its region fills best."""


def read_picture(image: np.ndarray) -> SceneReading:
    reading = read_scene(image, BACKGROUNDS)
    found = []
    for region in reading.regions[:2]:
        position = max(POSITIONS, key=lambda name: _iou(_box(name), region.mask))
        found.append(read_subject(image, reading.foreground, position))
    return SceneReading(reading.background, len(reading.regions), tuple(found))
