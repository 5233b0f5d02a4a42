"""A picture of a trained DLA's pooling over the MLLM's layers: for the text stream and the image stream, how much
each layer weighs in the pooled state, averaged over a prompt's tokens (bars) or token by token (a heat map,
tokens down, layers across, brightest cell = the largest weight), with how open each stream's gate is.

The weights are the pooling's over the layer slots after the small transformer along the layer axis, which mixes
the layers first: slot k starts from layer k's state and carries mostly, not only, that layer."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageDraw

from .dla import LayerWeights
from .features import TokenRole

PANEL_WIDTH, PANEL_HEIGHT, MARGIN = 320, 240, 24
BACKGROUND, INK, GRID = (24, 24, 28), (220, 220, 220), (90, 90, 90)
STREAM_COLOURS = {"text": (80, 140, 230), "image": (235, 150, 60)}


def stream_weights(view: LayerWeights, item: int = 0) -> dict[str, torch.Tensor]:
    """Per stream, the [tokens, layers] weights of batch item ``item``."""
    roles = view.roles[item]
    return {"text": view.weights[item][roles == TokenRole.TEXT], "image": view.weights[item][roles >= TokenRole.IMAGE]}


def _bars(draw: ImageDraw.ImageDraw, left: int, top: int, weights: torch.Tensor, colour, labels: list[str]) -> None:
    height = PANEL_HEIGHT - 2 * MARGIN
    means = weights.mean(dim=0).tolist()
    width = (PANEL_WIDTH - 2 * MARGIN) // len(means)
    bottom = top + MARGIN + height
    draw.line([(left + MARGIN, bottom), (left + PANEL_WIDTH - MARGIN, bottom)], fill=GRID)
    for k, (value, label) in enumerate(zip(means, labels)):
        x0 = left + MARGIN + k * width
        draw.rectangle([x0 + 2, round(bottom - value * height), x0 + width - 3, bottom], fill=colour)
        draw.text((x0 + 2, bottom + 4), label, fill=INK)
        draw.text((x0 + 2, round(bottom - value * height) - 12), f"{value:.2f}", fill=INK)


def _heat_map(canvas: Image.Image, left: int, top: int, weights: torch.Tensor, colour, labels: list[str]) -> None:
    height, width = PANEL_HEIGHT - 2 * MARGIN, PANEL_WIDTH - 2 * MARGIN
    brightest = max(float(weights.max()), 1e-6)
    cells = ((weights / brightest).clamp(0, 1).numpy()[..., None] * np.asarray(colour, dtype=np.float32))
    cells = cells.astype(np.uint8)
    picture = Image.fromarray(cells).resize((width, height), Image.NEAREST)
    canvas.paste(picture, (left + MARGIN, top + MARGIN))
    draw = ImageDraw.Draw(canvas)
    column = width // len(labels)
    for k, label in enumerate(labels):
        draw.text((left + MARGIN + k * column + 2, top + MARGIN + height + 4), label, fill=INK)
    draw.text((left + 2, top + MARGIN), f"{len(weights)}", fill=INK)
    draw.text((left + MARGIN, top + 2), f"tokens down, brightest {brightest:.2f}", fill=INK)


def render_layer_weights(view: LayerWeights, per_token: bool = False, item: int = 0) -> np.ndarray:
    """[H, W, 3] uint8: a panel per stream, bars of the mean weight of each layer or a token-by-layer heat map."""
    canvas = Image.new("RGB", (2 * PANEL_WIDTH, PANEL_HEIGHT + MARGIN), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    labels = [f"L{index}" for index in view.layer_indices]
    gates = {"text": view.text_gate, "image": view.image_gate}
    for number, (stream, weights) in enumerate(stream_weights(view, item).items()):
        left = number * PANEL_WIDTH
        draw.text((left + 4, 4), f"{stream} stream, {len(weights)} tokens, gate RMS {gates[stream]:.3f}", fill=INK)
        if not len(weights):
            draw.text((left + MARGIN, PANEL_HEIGHT // 2), "no tokens of this stream", fill=INK)
        elif per_token:
            _heat_map(canvas, left, MARGIN, weights, STREAM_COLOURS[stream], labels)
        else:
            _bars(draw, left, MARGIN, weights, STREAM_COLOURS[stream], labels)
    return np.asarray(canvas)
