"""A picture of a stage schedule: one bar pair per sampling step, so artists see what they set."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw

from .schedule import MAX_WEIGHT, StageSchedule

SEMANTIC_COLOUR = (80, 140, 230)
IDENTITY_COLOUR = (235, 150, 60)


def render_schedule(
    schedule: StageSchedule, progresses: Sequence[float], width: int = 512, height: int = 256
) -> np.ndarray:
    """Bars of the semantic (blue) and identity (orange) weight at each step's progress; [H, W, 3] uint8."""
    canvas = Image.new("RGB", (width, height), (24, 24, 28))
    draw = ImageDraw.Draw(canvas)
    top, bottom = 20, height - 20
    scale = (bottom - top) / MAX_WEIGHT
    draw.line([(0, bottom - scale), (width, bottom - scale)], fill=(90, 90, 90))
    draw.text((4, 2), f"{schedule.name}: semantic (blue), identity (orange)", fill=(220, 220, 220))
    slot = width / max(1, len(progresses))
    for step, progress in enumerate(progresses):
        weights = schedule.weights(progress)
        left = step * slot + 1
        half = max(1.0, slot / 2 - 1)
        for offset, value, colour in ((0, weights.semantic, SEMANTIC_COLOUR), (half, weights.identity[0], IDENTITY_COLOUR)):
            x0 = left + offset
            draw.rectangle([x0, bottom - value * scale, x0 + half - 1, bottom], fill=colour)
    return np.asarray(canvas)
