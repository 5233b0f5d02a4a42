"""The diffusion transformer in diffusers (Qwen-Image architecture, any width): building it at the sizes of a
DiffusionModelConfig, and one velocity prediction under a step's conditioning, shared by training and the pipeline."""

from __future__ import annotations

import torch

from .key_weighted_attention import install_key_weighting
from .diffusion_config import DiffusionModelConfig
from .seeding import seeded
from .stage_conditioning import StepConditioning


def build_transformer(config: DiffusionModelConfig, seed: int | None = None):
    """A diffusers ``QwenImageTransformer2DModel`` of these sizes, its attention able to weight keys."""
    from diffusers import QwenImageTransformer2DModel

    with seeded(seed):
        transformer = QwenImageTransformer2DModel(**config.model_kwargs())
    install_key_weighting(transformer)
    return transformer


def predict_velocity(transformer: torch.nn.Module, noisy_tokens: torch.Tensor, condition: StepConditioning,
                     sigma: torch.Tensor, target_grid: tuple[int, int, int]) -> torch.Tensor:
    """Flow velocity (noise minus clean latent) for the target tokens; ``sigma`` is [B] in 0..1."""
    hidden = torch.cat([noisy_tokens, *condition.references], dim=1)
    shapes = [[target_grid, *condition.reference_grids]] * noisy_tokens.shape[0]
    extra = None if condition.attention_bias is None else {"attention_bias": condition.attention_bias}
    output = transformer(hidden_states=hidden, encoder_hidden_states=condition.context,
                         encoder_hidden_states_mask=condition.context_mask, timestep=sigma.to(hidden.dtype),
                         img_shapes=shapes, attention_kwargs=extra, return_dict=False)[0]
    return output[:, :noisy_tokens.shape[1]]
