"""One denoising step's conditioning under stage weights, following the plan of ``stream_weights``: the MLLM's
image tokens and each reference's tokens are left out at weight 0, untouched at 1, and otherwise kept with
log(weight) on their keys; a reference with a region binds the target queries outside it (region_binding).

Training uses the same function with weights of 0 and 1 (streams dropped at random), so every phase of
a schedule is a case the model has seen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .features import TokenRole, image_role, pack_kept_tokens
from .key_bias_fold import AttentionBias
from .region_binding import Region, bind_references, binding_strengths
from .schedule import StageWeights
from .stream_weights import key_bias_pieces, plan_step, region_factor_pieces


@dataclass
class StepConditioning:
    context: torch.Tensor  # [B, T, D]
    context_mask: torch.Tensor  # [B, T] bool
    references: list[torch.Tensor]  # packed reference tokens kept for this step, each [B, R_k, C]
    reference_grids: list[tuple[int, int, int]]
    attention_bias: AttentionBias | None
    """Over T + target + references keys; None when every weight is 0 or 1 and no region binds."""


def weighted_conditioning(
    context: torch.Tensor,
    context_mask: torch.Tensor,
    roles: torch.Tensor,
    references: list[torch.Tensor],
    reference_grids: list[tuple[int, int, int]],
    weights: StageWeights,
    target_grid: tuple[int, int, int],
    regions: Sequence[Region | None] = (),
) -> StepConditioning:
    """``references`` are packed token sequences, one per reference, in the order of ``weights.identity``;
    ``regions`` gives each reference's region (None or missing: none)."""
    plan = plan_step(weights, len(references), binding_strengths(regions))
    keep = context_mask.bool()
    if plan.drop_image_tokens:
        keep = keep & (roles < TokenRole.IMAGE)
    if not bool(keep.equal(context_mask.bool())):
        packed, mask = pack_kept_tokens(torch.cat([context, roles.unsqueeze(-1).to(context.dtype)], dim=-1), keep)
        context, roles, context_mask = packed[..., :-1], packed[..., -1].long(), mask
    kept = [references[k] for k in plan.kept_references]
    spans = [tokens.shape[1] for tokens in kept]
    frames, rows, columns = target_grid
    bound = bind_references(plan, regions, target_grid, lambda k: roles == image_role(k))
    bias = None
    if plan.biased or bound is not None:
        text = (roles >= TokenRole.IMAGE).to(context.dtype) * plan.image_log_weight
        column = context.new_tensor(plan.reference_log_weights)[None].expand(context.shape[0], -1)
        key = torch.cat(key_bias_pieces(text, frames * rows * columns, column, spans, context), dim=1)
        factors = () if bound is None else region_factor_pieces(
            bound.query_log_weights[None].expand(context.shape[0], -1, -1), bound.picture_members,
            bound.reference_members[None].expand(context.shape[0], -1, -1), spans)
        bias = AttentionBias(key, *(factor.to(context) for factor in factors))
    return StepConditioning(context, context_mask.bool(), kept, [reference_grids[k] for k in plan.kept_references],
                            bias)
