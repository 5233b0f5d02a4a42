"""One denoising step's conditioning under stage weights: the MLLM's image tokens and each reference's
tokens are left out at weight 0, untouched at 1, and otherwise kept with log(weight) on their keys.

Training uses the same function with weights of 0 and 1 (streams dropped at random), so every phase of
a schedule is a case the model has seen.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .features import TokenRole, pack_kept_tokens
from .schedule import StageWeights


@dataclass
class StepConditioning:
    context: torch.Tensor  # [B, T, D]
    context_mask: torch.Tensor  # [B, T] bool
    references: list[torch.Tensor]  # packed reference tokens kept for this step, each [B, R_k, C]
    reference_grids: list[tuple[int, int, int]]
    key_bias: torch.Tensor | None  # [B, 1, 1, T + target + references] or None when every weight is 0 or 1


def _log_weight(weight: float) -> float:
    return 0.0 if weight == 1.0 else math.log(weight)


def weighted_conditioning(
    context: torch.Tensor,
    context_mask: torch.Tensor,
    roles: torch.Tensor,
    references: list[torch.Tensor],
    reference_grids: list[tuple[int, int, int]],
    weights: StageWeights,
    target_tokens: int,
) -> StepConditioning:
    """``references`` are packed token sequences, one per reference, in the order of ``weights.identity``."""
    if len(weights.identity) < len(references):
        raise ValueError(f"{len(references)} references but identity weights for {len(weights.identity)}")
    image_tokens = roles >= TokenRole.IMAGE
    keep = context_mask.bool()
    if weights.semantic == 0.0:
        keep = keep & ~image_tokens
    if not bool(keep.equal(context_mask.bool())):
        packed, mask = pack_kept_tokens(torch.cat([context, roles.unsqueeze(-1).to(context.dtype)], dim=-1), keep)
        context, roles, context_mask = packed[..., :-1], packed[..., -1].long(), mask
        image_tokens = roles >= TokenRole.IMAGE
    kept = [(tokens, grid, weight) for tokens, grid, weight in zip(references, reference_grids, weights.identity)
            if weight > 0.0]
    weighted = weights.semantic not in (0.0, 1.0) or any(weight != 1.0 for _, _, weight in kept)
    bias = None
    if weighted:
        text_bias = image_tokens.to(context.dtype) * _log_weight(weights.semantic)
        parts = [text_bias, context.new_zeros(context.shape[0], target_tokens)]
        parts += [context.new_full(tokens.shape[:2], _log_weight(weight)) for tokens, _, weight in kept]
        bias = torch.cat(parts, dim=1)[:, None, None, :]
    return StepConditioning(context, context_mask.bool(), [tokens for tokens, _, _ in kept],
                            [grid for _, grid, _ in kept], bias)
