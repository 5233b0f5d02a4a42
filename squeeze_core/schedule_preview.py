"""A picture of a stage schedule: one bar pair per sampling step, so artists see what they set."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw

from .schedule import MAX_WEIGHT, StageSchedule

SEMANTIC_COLOUR = (80, 140, 230)
IDENTITY_COLOUR = (235, 150, 60)
BINDING_COLOUR = (110, 200, 120)


def preview_width(steps: int, minimum: int = 512) -> int:
    """Wide enough that every step gets whole pixels for both of its bars."""
    return max(minimum, 2 * steps)


def render_schedule(
    schedule: StageSchedule, progresses: Sequence[float], width: int | None = None, height: int = 256
) -> np.ndarray:
    """Bars of the semantic (blue) and identity (orange) weight at each step's progress, and a green strip
    under the steps where regions bind (as bright as the share that holds); [H, W, 3] uint8.
    Bar edges are whole pixels (step k covers columns [k * W // n, (k + 1) * W // n)), so every step count
    draws exactly, each bar at least one pixel wide."""
    steps = max(1, len(progresses))
    width = preview_width(steps) if width is None else width
    if width < 2 * steps:
        raise ValueError(f"a {width}-pixel preview cannot show {steps} steps; it needs at least {2 * steps}")
    canvas = Image.new("RGB", (width, height), (24, 24, 28))
    draw = ImageDraw.Draw(canvas)
    top, bottom = 20, height - 20
    scale = (bottom - top) / MAX_WEIGHT
    draw.line([(0, bottom - scale), (width, bottom - scale)], fill=(90, 90, 90))
    draw.text((4, 2), f"{schedule.name}: semantic (blue), identity (orange), regions bound (green strip)",
              fill=(220, 220, 220))
    for step, progress in enumerate(progresses):
        weights = schedule.weights(progress)
        left, right = step * width // steps, (step + 1) * width // steps
        middle = (left + right) // 2
        for first, last, value, colour in ((left, middle - 1, weights.semantic, SEMANTIC_COLOUR),
                                           (middle, right - 1, weights.identity[0], IDENTITY_COLOUR)):
            draw.rectangle([first, round(bottom - value * scale), last, bottom], fill=colour)
        if weights.binding > 0.0:
            strip = tuple(round(24 + (c - 24) * weights.binding) for c in BINDING_COLOUR)
            draw.rectangle([left, bottom + 6, right - 1, bottom + 12], fill=strip)
    return np.asarray(canvas)
