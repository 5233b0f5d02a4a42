"""The diffusion transformer in diffusers (Qwen-Image's or FLUX.1's architecture, any width): building it at the
sizes of its config, and one velocity prediction under a step's conditioning, shared by training and the
pipeline.

FLUX reads token positions from ids rather than grids; the target is at index 0 and each reference at index 1,
placed beside the ones before it as ComfyUI's FLUX.1 Kontext places them (its default "offset" method), so a
model trained here sees in ComfyUI the positions it was trained on."""

from __future__ import annotations

import torch

from .diffusion_config import FluxModelConfig, TransformerConfig
from .key_weighted_attention import install_key_weighting
from .seeding import seeded
from .stage_conditioning import StepConditioning

FLUX_GUIDANCE = 3.5
"""The distilled guidance a FLUX.1-dev or Kontext transformer is given: ComfyUI's default (FluxGuidance node)."""


def build_transformer(config: TransformerConfig, seed: int | None = None):
    """A diffusers transformer of these sizes, its attention able to weight keys."""
    from diffusers import FluxTransformer2DModel, QwenImageTransformer2DModel

    model_class = FluxTransformer2DModel if isinstance(config, FluxModelConfig) else QwenImageTransformer2DModel
    with seeded(seed):
        transformer = model_class(**config.model_kwargs())
    install_key_weighting(transformer)
    return transformer


def predict_velocity(transformer: torch.nn.Module, noisy_tokens: torch.Tensor, condition: StepConditioning,
                     sigma: torch.Tensor, target_grid: tuple[int, int, int]) -> torch.Tensor:
    """Flow velocity (noise minus clean latent) for the target tokens; ``sigma`` is [B] in 0..1."""
    hidden = torch.cat([noisy_tokens, *condition.references], dim=1)
    bias = {} if condition.attention_bias is None else {"attention_bias": condition.attention_bias}
    if type(transformer).__name__ == "FluxTransformer2DModel":
        output = _flux_velocity(transformer, hidden, condition, sigma.to(hidden.dtype), target_grid, bias)
    else:
        shapes = [[target_grid, *condition.reference_grids]] * noisy_tokens.shape[0]
        output = transformer(hidden_states=hidden, encoder_hidden_states=condition.context,
                             encoder_hidden_states_mask=condition.context_mask, timestep=sigma.to(hidden.dtype),
                             img_shapes=shapes, attention_kwargs=bias or None, return_dict=False)[0]
    return output[:, :noisy_tokens.shape[1]]


def _flux_velocity(transformer, hidden: torch.Tensor, condition: StepConditioning, sigma: torch.Tensor,
                   target_grid: tuple[int, int, int], bias: dict) -> torch.Tensor:
    batch, device = hidden.shape[0], hidden.device
    config = transformer.config
    guidance = torch.full((batch,), FLUX_GUIDANCE, device=device) if config.guidance_embeds else None
    return transformer(hidden_states=hidden, encoder_hidden_states=condition.context,
                       pooled_projections=hidden.new_zeros(batch, config.pooled_projection_dim), timestep=sigma,
                       img_ids=flux_image_ids(target_grid, condition.reference_grids, device),
                       txt_ids=torch.zeros(condition.context.shape[1], 3, device=device), guidance=guidance,
                       joint_attention_kwargs={"text_mask": condition.context_mask, **bias}, return_dict=False)[0]


def flux_image_ids(target_grid: tuple[int, int, int], reference_grids: list[tuple[int, int, int]],
                   device: torch.device) -> torch.Tensor:
    """[tokens, 3] (index, row, column) ids of the target's tokens then each reference's."""
    ids = [_grid_ids(0, target_grid, 0, 0, device)]
    height = width = 0
    for _, rows, columns in reference_grids:
        row_offset, column_offset = (0, width) if rows + height > columns + width else (height, 0)
        height, width = max(height, rows + row_offset), max(width, columns + column_offset)
        ids.append(_grid_ids(1, (1, rows, columns), row_offset, column_offset, device))
    return torch.cat(ids)


def _grid_ids(index: int, grid: tuple[int, int, int], row_offset: int, column_offset: int,
              device: torch.device) -> torch.Tensor:
    _, rows, columns = grid
    row, column = torch.meshgrid(torch.arange(rows, device=device) + row_offset,
                                 torch.arange(columns, device=device) + column_offset, indexing="ij")
    return torch.stack([torch.full_like(row, index), row, column], dim=-1).reshape(-1, 3).float()
