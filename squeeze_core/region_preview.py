"""A picture of the references' regions as the model's tokens see them, so artists check a layout before sampling."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw

from .region_binding import Region

REGION_COLOURS = ((230, 80, 80), (80, 170, 230), (120, 210, 90), (235, 180, 60))
"""Reference 1 red, 2 blue, 3 green, 4 amber (then again)."""


def render_regions(regions: Sequence[Region | None], grid: tuple[int, int], size: tuple[int, int],
                   background: np.ndarray | None = None) -> np.ndarray:
    """[height, width, 3] uint8: each region's coverage of the (rows, columns) token grid as a tint of its
    reference's colour (full tint where a token lies wholly inside, none outside), the token cells drawn, and
    the reference's number at the centre of its region. ``background`` ([h, w, 3] uint8, any size) is
    stretched under it; without one the canvas is mid grey."""
    width, height = size
    rows, columns = grid
    base = Image.new("RGB", (width, height), (128, 128, 128)) if background is None else \
        Image.fromarray(background).convert("RGB").resize((width, height), Image.BILINEAR)
    canvas = np.asarray(base, dtype=np.float32)
    labels = []
    for index, region in enumerate(regions):
        if region is None:
            continue
        coverage = region.coverage(rows, columns).numpy()
        cells = np.asarray(Image.fromarray(coverage).resize((width, height), Image.NEAREST))[..., None]
        tint = 0.55 * cells * region.strength
        canvas = canvas * (1.0 - tint) + np.asarray(REGION_COLOURS[index % len(REGION_COLOURS)]) * tint
        if coverage.sum() > 0:
            y, x = np.nonzero(coverage)
            weights = coverage[y, x]
            labels.append((index, (np.average(x, weights=weights) + 0.5) * width / columns,
                           (np.average(y, weights=weights) + 0.5) * height / rows))
    picture = Image.fromarray(canvas.round().clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(picture)
    for row in range(1, rows):
        draw.line([(0, row * height // rows), (width, row * height // rows)], fill=(60, 60, 60))
    for column in range(1, columns):
        draw.line([(column * width // columns, 0), (column * width // columns, height)], fill=(60, 60, 60))
    for index, x, y in labels:
        draw.text((x - 3, y - 5), str(index + 1), fill=(255, 255, 255))
    return np.asarray(picture)
