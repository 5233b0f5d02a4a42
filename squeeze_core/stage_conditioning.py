"""One denoising step's conditioning under stage weights, following the plan of ``stream_weights``: the MLLM's
image tokens and each reference's tokens are left out at weight 0, untouched at 1, and otherwise kept with
log(weight) on their keys.

Training uses the same function with weights of 0 and 1 (streams dropped at random), so every phase of
a schedule is a case the model has seen.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .features import TokenRole, pack_kept_tokens
from .schedule import StageWeights
from .stream_weights import key_bias_pieces, plan_step


@dataclass
class StepConditioning:
    context: torch.Tensor  # [B, T, D]
    context_mask: torch.Tensor  # [B, T] bool
    references: list[torch.Tensor]  # packed reference tokens kept for this step, each [B, R_k, C]
    reference_grids: list[tuple[int, int, int]]
    key_bias: torch.Tensor | None  # [B, 1, 1, T + target + references] or None when every weight is 0 or 1


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
    plan = plan_step(weights, len(references))
    keep = context_mask.bool()
    if plan.drop_image_tokens:
        keep = keep & (roles < TokenRole.IMAGE)
    if not bool(keep.equal(context_mask.bool())):
        packed, mask = pack_kept_tokens(torch.cat([context, roles.unsqueeze(-1).to(context.dtype)], dim=-1), keep)
        context, roles, context_mask = packed[..., :-1], packed[..., -1].long(), mask
    kept = [references[k] for k in plan.kept_references]
    bias = None
    if plan.biased:
        text = (roles >= TokenRole.IMAGE).to(context.dtype) * plan.image_log_weight
        column = context.new_tensor(plan.reference_log_weights)[None].expand(context.shape[0], -1)
        pieces = key_bias_pieces(text, target_tokens, column, [tokens.shape[1] for tokens in kept], context)
        bias = torch.cat(pieces, dim=1)[:, None, None, :]
    return StepConditioning(context, context_mask.bool(), kept, [reference_grids[k] for k in plan.kept_references],
                            bias)
