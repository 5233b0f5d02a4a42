"""References, instruction and result in one picture, so a reader sees at a glance whether the subject was
kept and the instruction followed."""

from __future__ import annotations

import textwrap
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

BACKGROUND = (24, 24, 28)
TEXT = (230, 230, 230)
LABEL = (150, 150, 160)


def _tile(image: np.ndarray, side: int) -> Image.Image:
    """Scaled to ``side`` on its longer edge; small pictures keep their pixels sharp."""
    picture = Image.fromarray(image)
    scale = side / max(picture.size)
    size = (max(1, round(picture.width * scale)), max(1, round(picture.height * scale)))
    return picture.resize(size, Image.NEAREST if scale >= 2 else Image.LANCZOS)


def side_by_side(references: Sequence[np.ndarray], result: np.ndarray, prompt: str, side: int = 256) -> np.ndarray:
    """uint8 [H, W, 3]: each reference, then the result, labelled, with the prompt written underneath."""
    font = ImageFont.load_default(size=max(12, side // 14))
    label_font = ImageFont.load_default(size=max(10, side // 18))
    pictures = [(f"reference {k + 1}", _tile(image, side)) for k, image in enumerate(references)]
    pictures.append(("result", _tile(result, side)))
    gap = max(8, side // 16)
    label_height = label_font.size + gap // 2
    width = gap + sum(picture.width + gap for _, picture in pictures)
    characters = max(16, int(width / (font.size * 0.55)))
    lines = textwrap.wrap(f"\u201c{prompt.strip()}\u201d", characters) or [""]
    text_height = len(lines) * (font.size + 4) + gap
    height = gap + label_height + side + gap + text_height
    canvas = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    left = gap
    for label, picture in pictures:
        draw.text((left, gap), label, fill=LABEL, font=label_font)
        canvas.paste(picture, (left, gap + label_height + (side - picture.height) // 2))
        left += picture.width + gap
    top = gap + label_height + side + gap
    for line in lines:
        draw.text((gap, top), line, fill=TEXT, font=font)
        top += font.size + 4
    return np.asarray(canvas)
