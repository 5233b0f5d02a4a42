"""The optional image1..image4 sockets shared by the pack's encode nodes, and IMAGE tensors as pixels."""

from __future__ import annotations

import numpy as np
import torch
from comfy_api.latest import io

from ..squeeze_core.images import check_reference

IMAGE_SLOTS = ("image1", "image2", "image3", "image4")


def image_inputs(purpose: str) -> list[io.Image.Input]:
    return [
        io.Image.Input(slot, optional=True,
                       tooltip=f"Reference picture {k + 1} ('Picture {k + 1}' in the prompt) {purpose}. "
                       f"A batch of N frames gives N results with a latent batch of N (frame k with latent k); "
                       f"with a latent batch of 1, the first frame.")
        for k, slot in enumerate(IMAGE_SLOTS)
    ]


def connected_images(**slots: torch.Tensor | None) -> list[torch.Tensor]:
    """The connected references in slot order (empty slots are skipped; numbering stays compact), checked."""
    found = []
    for name in IMAGE_SLOTS:
        if slots.get(name) is not None:
            check_reference(slots[name], name)
            found.append(slots[name])
    return found


def image_uint8(image: torch.Tensor) -> np.ndarray:
    """A ComfyUI IMAGE (or one frame of it) as uint8 RGB, an alpha channel dropped."""
    return image[..., :3].clamp(0, 1).mul(255).round().byte().cpu().numpy()
