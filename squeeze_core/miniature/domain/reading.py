"""Reading a picture of the domain without any model: the ground is the median border colour (grounds are
unsaturated, subjects saturated), the subjects are the 4-connected regions far from it."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

FOREGROUND_DISTANCE = 60.0
"""RGB distance from the ground beyond which a pixel belongs to a subject."""
MIN_REGION = 0.01
"""Regions smaller than this share of the image are noise."""


@dataclass(frozen=True)
class Region:
    mask: np.ndarray
    top: int
    left: int
    height: int
    width: int

    @property
    def centre(self) -> tuple[float, float]:
        rows, cols = np.nonzero(self.mask)
        return float(rows.mean()), float(cols.mean())


@dataclass(frozen=True)
class Reading:
    background: str
    foreground: np.ndarray
    regions: tuple[Region, ...]


def nearest(colour: np.ndarray, palette: dict[str, tuple[int, int, int]]) -> str:
    names = list(palette)
    distances = [np.linalg.norm(colour - np.asarray(palette[name], dtype=np.float32)) for name in names]
    return names[int(np.argmin(distances))]


def regions(mask: np.ndarray) -> list[Region]:
    """4-connected regions of ``mask``, largest first, without the noise-sized ones."""
    labels = np.zeros(mask.shape, dtype=np.int32)
    found = []
    for start in zip(*np.nonzero(mask)):
        if labels[start]:
            continue
        label = len(found) + 1
        labels[start] = label
        queue, pixels = deque([start]), []
        while queue:
            row, col = queue.popleft()
            pixels.append((row, col))
            for r, c in ((row - 1, col), (row + 1, col), (row, col - 1), (row, col + 1)):
                if 0 <= r < mask.shape[0] and 0 <= c < mask.shape[1] and mask[r, c] and not labels[r, c]:
                    labels[r, c] = label
                    queue.append((r, c))
        found.append(np.asarray(pixels))
    kept = []
    for pixels in found:
        if len(pixels) < MIN_REGION * mask.size:
            continue
        region = np.zeros(mask.shape, dtype=bool)
        region[pixels[:, 0], pixels[:, 1]] = True
        (top, left), (bottom, right) = pixels.min(axis=0), pixels.max(axis=0)
        kept.append(Region(region, int(top), int(left), int(bottom - top + 1), int(right - left + 1)))
    return sorted(kept, key=lambda item: -int(item.mask.sum()))


def read_scene(image: np.ndarray, backgrounds: dict[str, tuple[int, int, int]]) -> Reading:
    """Ground colour (named from ``backgrounds``) and subject regions of an RGB uint8 [H, W, 3] image."""
    pixels = image.astype(np.float32)
    border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    ground = np.median(border, axis=0)
    foreground = np.linalg.norm(pixels - ground, axis=-1) > FOREGROUND_DISTANCE
    return Reading(nearest(ground, backgrounds), foreground, tuple(regions(foreground)))
