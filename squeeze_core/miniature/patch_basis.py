"""A linear latent space for a VAE to start from: the principal components of its latent pixels' patches.

Trained end to end from random weights, the miniature's narrow Qwen-Image decoder never learnt detail inside
a latent pixel (the fine bits stayed at chance after 3,000 steps at every rate tried): the encoder drops what
the decoder cannot yet draw, and the decoder cannot learn to draw what the latents do not hold. The first
16 principal components of the 8 x 8 patches hold every fine bit (1.000 on 200 held-out targets, read back
through the transposed basis), so latents defined by them break that deadlock: the decoder learns to draw
them and the encoder to compute them, each from a fixed target.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class PatchBasis:
    mean: torch.Tensor
    """[3 * stride**2]: the mean patch, in ``pixel_unshuffle`` order."""
    components: torch.Tensor
    """[channels, 3 * stride**2]: the leading principal directions, each scaled so its latent has unit variance."""
    spread: torch.Tensor
    """[channels]: each component's standard deviation in pixels, largest first."""
    stride: int

    @classmethod
    def fit(cls, pixels: torch.Tensor, channels: int, stride: int = 8) -> PatchBasis:
        """The basis of the ``stride`` x ``stride`` patches of ``pixels`` (the VAE's input, [B, 3, 1, H, W])."""
        patches = _patches(pixels, stride).flatten(0, 2)
        mean = patches.mean(dim=0)
        _, singular, directions = torch.linalg.svd(patches - mean, full_matrices=False)
        spread = singular[:channels, None] / len(patches) ** 0.5
        return cls(mean, directions[:channels] / spread.clamp_min(1e-6), spread.flatten(), stride)

    def channel_scales(self, exponent: float = 0.5) -> torch.Tensor:
        """[channels]: each latent channel's scale, as its pixel spread to the ``exponent`` (relative to the
        spreads' root mean square). Whitened latents (exponent 0) give a rare detail channel the weight of the
        picture's colour in a diffusion loss, and a diffusion model trained on them drew coloured blocks
        where the subject belongs (3,500 steps); pixel-true latents (exponent 1) would make the detail a
        negligible share."""
        return (self.spread / self.spread.square().mean().sqrt()) ** exponent

    def latents(self, pixels: torch.Tensor) -> torch.Tensor:
        """[B, 3, 1, H, W] pixels -> [B, channels, 1, H / stride, W / stride] latents."""
        return ((_patches(pixels, self.stride) - self.mean) @ self.components.T).movedim(-1, 1).unsqueeze(2)

    def pixels(self, latents: torch.Tensor) -> torch.Tensor:
        """The least-squares inverse of ``latents``: what the basis keeps of the pixels. The components are
        orthogonal, so the inverse is each one over its squared length."""
        inverse = self.components / self.components.square().sum(dim=1, keepdim=True)
        patches = latents[:, :, 0].movedim(1, -1) @ inverse + self.mean
        return F.pixel_shuffle(patches.movedim(-1, 1), self.stride).unsqueeze(2)


def _patches(pixels: torch.Tensor, stride: int) -> torch.Tensor:
    """[B, 3, 1, H, W] -> [B, H / stride, W / stride, 3 * stride**2]."""
    return F.pixel_unshuffle(pixels[:, :, 0], stride).movedim(1, -1)
