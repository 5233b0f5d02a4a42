"""Continuous stream weights inside attention: a log-weight bias on the keys of the weighted tokens.

Adding log w to a key's attention logits multiplies its unnormalised attention by w for every
query: 0 < w < 1 fades that token, 1 < w <= 2 strengthens it, w = 1 changes nothing. The guider
stores per-token log weights in the model conds (so ComfyUI batches and pads them with the
context); a model-function wrapper, installed only for the model calls that need it, lays them out
over the joint sequence and adds an attention override for that call. The joint sequence is text,
then target, then each reference in order, as Qwen-Image and FLUX order it. No model code is
forked, and nothing outlives the call.
"""

from __future__ import annotations

import math

import comfy.conds
import torch

TEXT_KEY = "squeeze_text_log_weights"
"""[B, T, 1] log weight per context token, a CONDCrossAttn so it is padded and repeated with the context."""
REFERENCE_KEY = "squeeze_reference_log_weights"
"""[B, K] log weight per reference latent, a CONDRegular."""


def log_weight(weight: float) -> float:
    return math.log(weight) if weight > 0.0 else -math.inf


def text_log_weights(weighted: torch.Tensor, weight: float) -> comfy.conds.CONDCrossAttn:
    """The text-stream cond: ``log weight`` on the tokens ``weighted`` marks ([T] bool), 0 elsewhere."""
    values = torch.where(weighted, log_weight(weight), 0.0).to(torch.float32)
    return comfy.conds.CONDCrossAttn(values[None, :, None])


def reference_log_weights(weights: list[float]) -> comfy.conds.CONDRegular:
    return comfy.conds.CONDRegular(torch.tensor([[log_weight(w) for w in weights]], dtype=torch.float32))


def patch_tokens(latent: torch.Tensor, patch_size: int) -> int:
    """How many tokens a [B, C, (F,) H, W] latent becomes after padding to whole patches."""
    frames = latent.shape[2] if latent.ndim == 5 else 1
    height, width = latent.shape[-2:]
    return frames * -(-height // patch_size) * -(-width // patch_size)


def joint_key_bias(c: dict, target: torch.Tensor, patch_size: int) -> list[torch.Tensor] | None:
    """The [B, n] pieces of the additive bias over text, target and reference keys (None when nothing is
    weighted). Target and reference pieces are expanded views, so they hold one value per row; the full
    bias exists only inside each attention call."""
    text = c.pop(TEXT_KEY, None)
    references = c.pop(REFERENCE_KEY, None)
    if text is None and references is None:
        return None
    context = c["c_crossattn"]
    batch = target.shape[0]
    zero = context.new_zeros(batch, 1)
    parts = [text[..., 0] if text is not None else zero.expand(batch, context.shape[1])]
    parts.append(zero.expand(batch, patch_tokens(target, patch_size)))
    for k, latent in enumerate(c.get("ref_latents") or []):
        column = references[:, k:k + 1].to(context.dtype) if references is not None else zero
        parts.append(column.expand(batch, patch_tokens(latent, patch_size)))
    return parts


def _additive(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    if mask.dtype == torch.bool:
        mask = torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(~mask, -math.inf)
    while mask.ndim < 4:
        mask = mask.unsqueeze(0 if mask.ndim == 2 else 1)
    return mask.to(dtype)


def key_bias_override(parts: list[torch.Tensor], previous=None):
    """An ``optimized_attention_override`` that adds the bias ``parts`` make to attention over the joint
    sequence.

    The bias goes in as an additive [B, 1, 1, keys] mask, which every ComfyUI attention function
    takes, so a weighted step runs the same attention as a stock one; it is built for each call and
    dropped after it, so between calls a weighted step holds no more than a stock one. Attention over
    other sequences is left alone."""
    total = sum(part.shape[1] for part in parts)

    def override(func, q, k, v, heads, mask=None, *args, **kwargs):
        keys = k.shape[2] if kwargs.get("skip_reshape") else k.shape[1]
        if keys == total:
            weighted = torch.cat([part.to(device=q.device, dtype=q.dtype) for part in parts], dim=1)[:, None, None]
            mask = weighted if mask is None else _additive(mask, q.dtype) + weighted
        if previous is not None:
            return previous(func, q, k, v, heads, mask, *args, **kwargs)
        return func(q, k, v, heads, mask, *args, **kwargs)

    return override


def key_weights_wrapper(patch_size: int, previous=None):
    """A ``model_function_wrapper`` that turns the guider's log-weight conds into an attention bias."""

    def wrapper(apply_model, args: dict):
        c = dict(args["c"])
        parts = joint_key_bias(c, args["input"], patch_size)
        if parts is not None:
            options = dict(c.get("transformer_options", {}))
            options["optimized_attention_override"] = key_bias_override(
                parts, options.get("optimized_attention_override"))
            c["transformer_options"] = options
        args = {**args, "c": c}
        if previous is not None:
            return previous(apply_model, args)
        return apply_model(args["input"], args["timestep"], **c)

    return wrapper
