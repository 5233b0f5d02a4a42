"""The objective both trainings share, the DLA recipe one sample at a time and the miniature in batches: the
squared error of the transformer's velocity for noised target latents under a stage's weighted conditioning."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Callable, ContextManager, Sequence

import torch

from ..denoiser import predict_velocity
from ..dla import AggregatedContext
from ..flow_matching import noised, velocity_target
from ..latent_packing import pack_latents, token_grid, unpack_latents
from ..schedule import StageWeights
from ..stage_conditioning import weighted_conditioning


def velocity_errors(transformer: torch.nn.Module, context: AggregatedContext, clean: torch.Tensor,
                    noise: torch.Tensor, sigma: torch.Tensor, references: Sequence[torch.Tensor],
                    weights: StageWeights, dtype: torch.dtype = torch.float32,
                    autocast: Callable[[], ContextManager] = nullcontext) -> torch.Tensor:
    """Squared errors [B, C, h, w] for ``clean`` [B, C, h, w] target latents noised to ``sigma`` [B] with ``noise``,
    given the references' latents [B, C, h', w'] and the streams' ``weights``; the transformer runs in ``dtype``
    under ``autocast``, and the errors are float32."""
    height, width = clean.shape[-2:]
    grid = token_grid(height, width)
    condition = weighted_conditioning(context.context.to(dtype), context.attention_mask, context.roles,
                                      [pack_latents(latent).to(dtype) for latent in references],
                                      [token_grid(*latent.shape[-2:]) for latent in references], weights, grid)
    with autocast():
        predicted = predict_velocity(transformer, pack_latents(noised(clean, noise, sigma)).to(dtype), condition,
                                     sigma, grid)
    return (unpack_latents(predicted.float(), height, width) - velocity_target(clean, noise)).square()
