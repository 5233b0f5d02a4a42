"""The one rule for weighting the two conditioning streams at a step, as a plan every sampler applies.

A stream's weight w (the MLLM's image tokens: the semantic weight; each reference's VAE latents: its
identity weight) acts on the attention its tokens receive: 0 leaves the tokens out of the model call (a
cheaper step), 1 leaves them untouched, anything else adds log w to their attention logits, so each
query gives them w times the unnormalised attention. The ComfyUI guider, the standalone pipeline and
training only carry out the plan; none of them decides anything about the weights.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .schedule import StageWeights


def log_weight(weight: float) -> float:
    """The logit bias of a stream at ``weight``: 0 at 1, minus infinity at 0 (which a plan never puts on keys:
    it drops those tokens instead)."""
    if not (math.isfinite(weight) and weight >= 0.0):
        raise ValueError(f"a stream weight must be a finite number >= 0, got {weight}")
    return math.log(weight) if weight > 0.0 else -math.inf


@dataclass(frozen=True)
class StepPlan:
    """What one model call does with the streams: which tokens stay and the log weight on each kept stream."""

    drop_image_tokens: bool
    image_log_weight: float
    """On every MLLM image token's keys; 0.0 when they are untouched or dropped."""
    kept_references: tuple[int, ...]
    """Indices of the references that stay in the call, in order."""
    reference_log_weights: tuple[float, ...]
    """One per kept reference."""
    num_references: int
    bindings: tuple[tuple[int, float], ...] = ()
    """(reference index, binding strength at this step) for each reference whose region binds now."""

    @property
    def biased(self) -> bool:
        """Whether any kept token gets a log weight (an attention bias is needed)."""
        return self.image_log_weight != 0.0 or any(value != 0.0 for value in self.reference_log_weights)

    @property
    def untouched(self) -> bool:
        """Whether the call is the stock one: nothing dropped, nothing weighted."""
        return (not self.drop_image_tokens and not self.biased and not self.bindings
                and len(self.kept_references) == self.num_references)


def plan_step(weights: StageWeights, num_references: int,
              binding_strengths: Sequence[float | None] = ()) -> StepPlan:
    """The plan for a call with ``num_references`` references (``weights.identity`` gives one weight each);
    ``binding_strengths`` holds each reference's region binding strength (None: it has no region)."""
    if len(weights.identity) < num_references:
        raise ValueError(f"{num_references} references but identity weights for {len(weights.identity)}")
    identity = weights.identity[:num_references]
    kept = tuple(k for k, weight in enumerate(identity) if weight > 0.0)
    drop = weights.semantic == 0.0
    return StepPlan(
        drop_image_tokens=drop,
        image_log_weight=0.0 if drop else log_weight(weights.semantic),
        kept_references=kept,
        reference_log_weights=tuple(log_weight(identity[k]) for k in kept),
        num_references=num_references,
        bindings=tuple((k, strength * weights.binding) for k, strength in enumerate(binding_strengths[:num_references])
                       if strength is not None and strength * weights.binding > 0.0),
    )


def key_bias_pieces(text_log_weights: torch.Tensor | None, target_tokens: int,
                    reference_log_weights: torch.Tensor | None, reference_tokens: Sequence[int],
                    like: torch.Tensor) -> list[torch.Tensor]:
    """The [B, n] pieces of the additive key bias over the joint sequence (text, target, then each reference,
    as Qwen-Image and FLUX order it). ``text_log_weights`` is [B, T] (None: no text bias; then ``like`` is
    the [B, T, ...] context), ``reference_log_weights`` [B, K] for the kept references. Target and reference
    pieces are expanded views holding one value per row, so the full bias need only exist inside attention."""
    batch = like.shape[0]
    zero = like.new_zeros(batch, 1)
    text = text_log_weights if text_log_weights is not None else zero.expand(batch, like.shape[1])
    pieces = [text.to(like.dtype), zero.expand(batch, target_tokens)]
    for k, count in enumerate(reference_tokens):
        column = zero if reference_log_weights is None else reference_log_weights[:, k:k + 1].to(like.dtype)
        pieces.append(column.expand(batch, count))
    return pieces


def region_factor_pieces(query_log_weights: torch.Tensor, text_members: torch.Tensor,
                         reference_members: torch.Tensor,
                         reference_tokens: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """The [B, joint, R] query and key factors of R region bindings over the joint sequence (text, target, then
    each reference): the log weights [B, R, target] on the target queries, and as keys each binding's picture
    tokens (``text_members`` [B, T, R]) and kept reference latents (``reference_members`` [B, K, R])."""
    logs = query_log_weights.transpose(1, 2).to(torch.float32)
    batch, rank = logs.shape[0], logs.shape[-1]
    text = text_members.to(logs)
    queries = [logs.new_zeros(batch, text.shape[1], rank), logs, logs.new_zeros(batch, sum(reference_tokens), rank)]
    members = reference_members.to(logs)
    keys = [text, torch.zeros_like(logs)] + [members[:, k:k + 1].expand(batch, count, rank)
                                            for k, count in enumerate(reference_tokens)]
    return torch.cat(queries, dim=1), torch.cat(keys, dim=1)
