"""Rectified flow as Qwen-Image and FLUX are trained with it: a clean latent x and noise n meet on the straight
line (1 - sigma) x + sigma n, and the transformer predicts the velocity n - x along it. The miniature's training
and the DLA recipe share these three rules."""

from __future__ import annotations

import torch


def sample_sigmas(batch: int, generator: torch.Generator) -> torch.Tensor:
    """Logit-normal noise levels in 0..1, which put most training steps at middle noise."""
    return torch.sigmoid(torch.randn(batch, generator=generator))


def noised(clean: torch.Tensor, noise: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """The point at noise level ``sigma`` ([B]) between ``clean`` and ``noise`` ([B, ...])."""
    level = sigma.view(-1, *([1] * (clean.ndim - 1))).to(clean.dtype)
    return (1 - level) * clean + level * noise


def velocity_target(clean: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    return noise - clean
