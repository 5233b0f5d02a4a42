"""Exact measures on the procedural domain: was the instruction followed, was the identity kept, and how
much does a result repeat its reference's layout (copy-paste).

An image is read without any model: the ground is the median border colour (backgrounds are
unsaturated, subjects saturated), the subjects are the connected regions far from it, and shape
and texture are judged by matching the rendered candidates at the size and turn found.
"""

from __future__ import annotations

import numpy as np

from .domain.reading import Reading, Region, nearest, read_scene as read_domain_scene
from .scenes import BACKGROUNDS, ROWS, SCALES, SINGLE_POSITIONS, Instruction, render_reference, subject_boxes
from .subjects import HUES, SHAPES, TEXTURES, Subject, subject_sprite


def read_scene(image: np.ndarray) -> Reading:
    return read_domain_scene(image, BACKGROUNDS)


def _position(centre: tuple[float, float], size: int, count: int, scale: str) -> str:
    """The named position whose subject centre, at this scale, lies nearest."""
    names = SINGLE_POSITIONS if count == 1 else ROWS

    def distance(name: str) -> float:
        boxes = subject_boxes(Instruction(name, scale if count == 1 else "small", count=count), size)
        anchor = np.mean([(top + side / 2, left + side / 2) for top, left, side in boxes], axis=0)
        return float(np.hypot(*(np.asarray(centre) + 0.5 - anchor)))

    return min(names, key=distance)


def _scale(region: Region, size: int) -> str:
    side = max(region.height, region.width) / size
    return min(SCALES, key=lambda name: abs(SCALES[name] - side))


def instruction_followed(image: np.ndarray, instruction: Instruction) -> dict[str, bool]:
    """Position, scale, background and count, each judged on its own."""
    reading = read_scene(image)
    size = image.shape[0]
    count = len(reading.regions)
    result = {"background": reading.background == instruction.background, "count": count == instruction.count}
    if not reading.regions:
        return {**result, "position": False, "scale": False}
    shown = reading.regions[:instruction.count]
    scales = [_scale(region, size) for region in shown]
    centre = tuple(np.mean([region.centre for region in shown], axis=0))
    result["position"] = _position(centre, size, len(shown), scales[0]) == instruction.position
    result["scale"] = all(scale == instruction.scale for scale in scales)
    return result


def _crop(region: Region, image: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    side = max(region.height, region.width)
    top = min(region.top, image.shape[0] - side)
    left = min(region.left, image.shape[1] - side)
    window = (slice(top, top + side), slice(left, left + side))
    return image[window], region.mask[window], side


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 0.0


def identity_kept(image: np.ndarray, identity: Subject, instruction: Instruction) -> dict[str, bool]:
    """Palette, shape and texture of the largest subject against the identity (turned as instructed)."""
    regions = read_scene(image).regions
    if not regions:
        return {"palette": False, "shape": False, "texture": False}
    pixels, mask, side = _crop(regions[0], image)
    hues = [nearest(colour, HUES) for colour in pixels[mask].astype(np.float32)]
    names, counts = np.unique(hues, return_counts=True)
    top_two = set(names[np.argsort(-counts)][:2])
    shape = max(SHAPES, key=lambda candidate: _iou(
        subject_sprite(Subject(candidate, "solid", "red", "blue"), side, instruction.quarter_turns)[1], mask))
    majority = names[int(np.argmax(counts))]
    pattern = np.zeros(mask.shape, dtype=bool)
    pattern[mask] = np.asarray(hues) != majority

    def agreement(texture: str) -> float:
        sprite, shown = subject_sprite(Subject(shape, texture, identity.primary, identity.secondary), side,
                                       instruction.quarter_turns)
        second = np.zeros(mask.shape, dtype=bool)
        second[shown] = (sprite[shown] == HUES[identity.secondary]).all(axis=-1)
        both = mask & shown
        matches = (pattern[both] == second[both]).mean() if both.any() else 0.0
        return max(matches, 1.0 - matches)

    texture = max(TEXTURES, key=agreement)
    return {"palette": top_two == {identity.primary, identity.secondary}, "shape": shape == identity.shape,
            "texture": texture == identity.texture}


def copy_paste(image: np.ndarray, identity: Subject) -> float:
    """Overlap (IoU) of the result's subjects with the reference's own layout: 1 is a pasted reference."""
    _, reference_mask = render_reference(identity, image.shape[0])
    return _iou(read_scene(image).foreground, reference_mask)
