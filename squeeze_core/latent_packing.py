"""Latents [B, C, H, W] to Qwen-Image's token sequence of 2x2 patches [B, H/2 * W/2, 4C] and back, in the
channel-then-patch order that diffusers and ComfyUI share."""

from __future__ import annotations

import torch
from einops import rearrange

PATCH = 2


def pack_latents(latents: torch.Tensor) -> torch.Tensor:
    if latents.ndim == 5:
        latents = latents[:, :, 0]
    return rearrange(latents, "b c (h ph) (w pw) -> b (h w) (c ph pw)", ph=PATCH, pw=PATCH)


def unpack_latents(tokens: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Tokens back to [B, C, height, width] latents."""
    return rearrange(tokens, "b (h w) (c ph pw) -> b c (h ph) (w pw)", h=height // PATCH, w=width // PATCH,
                     ph=PATCH, pw=PATCH)


def token_grid(height: int, width: int, patch: int = PATCH) -> tuple[int, int, int]:
    """The (frames, rows, columns) of a one-frame latent's tokens, as the rotary embeddings read them (a side that
    is not a whole number of patches is padded to one, as ComfyUI's models pad it)."""
    return (1, -(-height // patch), -(-width // patch))
