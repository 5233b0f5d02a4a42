"""Reference images in every form users hand them over, as one float layout, resized by area.

The common layout is ``[B, 3, H, W]`` float32 in 0..1. Tensors are read in ComfyUI's layout
(``[B, H, W, C]`` or ``[H, W, C]``, float 0..1 or uint8); arrays likewise; PIL images in any mode.
Alpha is dropped (as ComfyUI's own edit nodes do), grayscale is repeated to three channels;
``check_reference`` refuses, before that, what would silently give a wrong subject.
"""

from __future__ import annotations

import math
from typing import Union

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .errors import InvalidImageError

ImageLike = Union[torch.Tensor, np.ndarray, Image.Image]

_MAX_ASPECT = 150.0
MIN_REFERENCE_SIDE = 16
"""Below this many pixels on a side a reference carries no identity worth keeping."""


def to_image_batch(image: ImageLike) -> torch.Tensor:
    """Convert one reference (possibly a batch of frames) to ``[B, 3, H, W]`` float32 in 0..1."""
    if isinstance(image, Image.Image):
        return _from_pil(image)
    if isinstance(image, np.ndarray):
        image = torch.from_numpy(np.require(image, requirements=["C", "W"]))
    if not isinstance(image, torch.Tensor):
        raise InvalidImageError(
            f"a reference image must be a torch tensor, a numpy array or a PIL image, not {type(image).__name__}"
        )
    return _from_channels_last(image)


def check_reference(image: torch.Tensor, label: str = "the reference") -> None:
    """Refuse a channels-last reference with transparent pixels or a side under MIN_REFERENCE_SIDE.

    The colour under transparent pixels is undefined (often black), and dropping alpha would make it
    part of the subject; the user has to choose a background.
    """
    if image.ndim < 3:
        return
    height, width, channels = image.shape[-3:]
    if min(height, width) < MIN_REFERENCE_SIDE:
        raise InvalidImageError(
            f"{label} is {width}x{height} pixels; a reference needs at least {MIN_REFERENCE_SIDE} pixels on each "
            f"side to carry the subject's identity: connect the full-size picture"
        )
    if channels in (2, 4):
        opaque = 255 if image.dtype == torch.uint8 else 1.0
        if bool((image[..., -1] < opaque).any()):
            raise InvalidImageError(
                f"{label} has transparent pixels (an image with alpha): the colour under them is undefined and "
                f"would become part of the subject; composite it onto a background first (e.g. Image Composite "
                f"Masked) or connect an RGB image"
            )


def _from_pil(image: Image.Image) -> torch.Tensor:
    if image.width == 0 or image.height == 0:
        raise InvalidImageError("the reference image is empty (0 pixels): connect an image with content")
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        array = np.asarray(image, dtype=np.float32)
        peak = 65535.0 if image.mode.startswith("I;16") or array.max() > 255 else 255.0
        array = np.clip(array / peak, 0.0, 1.0)
        return _from_channels_last(torch.from_numpy(array))
    if image.mode not in ("RGB", "RGBA", "L", "LA"):
        image = image.convert("RGBA" if "A" in image.getbands() or "transparency" in image.info else "RGB")
    return _from_channels_last(torch.from_numpy(np.asarray(image).copy()))


def _from_channels_last(tensor: torch.Tensor) -> torch.Tensor:
    if tensor.ndim == 2:
        tensor = tensor[..., None]
    if tensor.ndim == 3:
        tensor = tensor[None]
    if tensor.ndim != 4:
        raise InvalidImageError(
            f"a reference image tensor must be [H, W], [H, W, C] or [B, H, W, C]; got shape {tuple(tensor.shape)}"
        )
    if tensor.numel() == 0:
        raise InvalidImageError(
            f"the reference image is empty (shape {tuple(tensor.shape)}): connect an image with content"
        )
    channels = tensor.shape[-1]
    if channels not in (1, 2, 3, 4):
        raise InvalidImageError(
            f"a reference image needs 1 to 4 channels in its last dimension (ComfyUI's [B, H, W, C] layout); "
            f"got {channels} in shape {tuple(tensor.shape)}"
        )
    if tensor.dtype == torch.uint8:
        tensor = tensor.float() / 255.0
    elif tensor.dtype.is_floating_point:
        tensor = tensor.float().clamp(0.0, 1.0)
    else:
        raise InvalidImageError(f"a reference image must be uint8 or floating point, not {tensor.dtype}")
    colour = tensor[..., :1].expand(*tensor.shape[:-1], 3) if channels <= 2 else tensor[..., :3]
    return colour.permute(0, 3, 1, 2).contiguous()


def size_for_area(height: int, width: int, area: int, multiple: int = 1) -> tuple[int, int]:
    """The (height, width) nearest to ``area`` pixels with the same aspect, on a grid of ``multiple``.

    Rounds as ComfyUI's Qwen edit nodes do, so the same budget gives the same size. Each side is at
    least one ``multiple``; aspects beyond 150:1 are squeezed to 150:1 so vision towers accept them.
    """
    if height <= 0 or width <= 0:
        raise InvalidImageError(f"cannot resize an empty image ({height}x{width})")
    if area <= 0 or multiple <= 0:
        raise InvalidImageError(f"pixel budget and multiple must be positive (got {area} and {multiple})")
    aspect = width / height
    aspect = min(max(aspect, 1.0 / _MAX_ASPECT), _MAX_ASPECT)
    if aspect != width / height:
        height = max(1, round(math.sqrt(height * width / aspect)))
        width = max(1, round(height * aspect))
    scale = math.sqrt(area / (height * width))
    new_h = max(multiple, round(height * scale / multiple) * multiple)
    new_w = max(multiple, round(width * scale / multiple) * multiple)
    longest = max(multiple, int(min(new_h, new_w) * _MAX_ASPECT) // multiple * multiple)
    return min(new_h, longest), min(new_w, longest)


def resize_to_area(images: torch.Tensor, area: int, multiple: int = 1, mode: str = "area") -> torch.Tensor:
    """Resize ``[B, C, H, W]`` to about ``area`` pixels on a ``multiple`` grid, keeping aspect."""
    height, width = size_for_area(images.shape[-2], images.shape[-1], area, multiple)
    if (height, width) == tuple(images.shape[-2:]):
        return images
    if mode in ("bilinear", "bicubic"):
        resized = F.interpolate(images, size=(height, width), mode=mode, align_corners=False, antialias=True)
        return resized.clamp(0.0, 1.0)
    return F.interpolate(images, size=(height, width), mode=mode)


def from_vae_range(pixels: torch.Tensor) -> np.ndarray:
    """A VAE's decoded ``[B, 3, H, W]`` pixels in -1..1 as uint8 ``[B, H, W, 3]`` pictures."""
    return ((pixels.float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()
