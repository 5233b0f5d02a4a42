"""Continuous stream weights inside attention: a log-weight bias on the keys of the weighted tokens.

Adding log w to a key's attention logits multiplies its unnormalised attention by w for every
query: 0 < w < 1 fades that token, 1 < w <= 2 strengthens it, w = 1 changes nothing. The guider
stores per-token log weights in the model conds (so ComfyUI batches and pads them with the
context); a model-function wrapper, installed only for the model calls that need it, lays them out
over the joint sequence and adds an attention override for that call, which folds the bias into the
queries and keys on GPUs (squeeze_core.key_bias_fold) and adds it as a mask on CPUs, where a mask is
free. The joint sequence is text, then target, then each reference in order, as Qwen-Image, FLUX and
Krea 2 order it; an attention call is weighted only when its key count is exactly that sequence's, and a
model call in which none was is reported (never a silent no-op). Region bindings (squeeze_core.region_binding)
add a per-query part, a rank-R sum over the bound references: its query factors sit on the target tokens, its
key factors on each bound reference's latents and its picture's image tokens, and it applies only where the
queries are that same sequence (joint self-attention) or its text and target alone (FluxKVCache's cached
steps). No model code is forked, and nothing outlives the call.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import comfy.conds
import torch

from ...squeeze_core.key_bias_fold import AttentionBias, fold_key_bias, fold_pays_off, unfold_output
from ...squeeze_core.latent_packing import token_grid as latent_token_grid
from ...squeeze_core.region_binding import BoundReferences
from ...squeeze_core.stream_weights import key_bias_pieces, region_factor_pieces

TEXT_KEY = "squeeze_text_log_weights"
"""[B, T, 1] log weight per context token, a CONDCrossAttn so it is padded and repeated with the context."""
REFERENCE_KEY = "squeeze_reference_log_weights"
"""[B, K] log weight per reference latent, a CONDRegular."""
REGION_QUERY_KEY = "squeeze_region_query_log_weights"
"""[B, R, target tokens] each bound reference's log weight per target token, a CONDRegular."""
REGION_TEXT_KEY = "squeeze_region_text_members"
"""[B, T, R] 1 where a context token is an image token of a bound reference's picture, a CONDCrossAttn."""
REGION_REFERENCE_KEY = "squeeze_region_reference_members"
"""[B, K, R] 1 where reference latent k of the call is a bound reference, a CONDRegular."""


def text_log_weights(weighted: torch.Tensor, value: float) -> comfy.conds.CONDCrossAttn:
    """The text-stream cond: the log weight ``value`` on the tokens ``weighted`` marks ([T] bool), 0 elsewhere."""
    values = torch.where(weighted, value, 0.0).to(torch.float32)
    return comfy.conds.CONDCrossAttn(values[None, :, None])


def reference_log_weights(values: Sequence[float]) -> comfy.conds.CONDRegular:
    return comfy.conds.CONDRegular(torch.tensor([list(values)], dtype=torch.float32))


def region_conds(bound: BoundReferences) -> dict:
    """The model conds of one conditioning entry's bound references."""
    return {REGION_QUERY_KEY: comfy.conds.CONDRegular(bound.query_log_weights[None].to(torch.float32)),
            REGION_TEXT_KEY: comfy.conds.CONDCrossAttn(bound.picture_members[None].to(torch.float32)),
            REGION_REFERENCE_KEY: comfy.conds.CONDRegular(bound.reference_members[None].to(torch.float32))}


def model_patch_size(diffusion_model) -> int | None:
    """The model's patch side (``patch_size`` in Qwen-Image and FLUX, ``patch`` in Krea 2); None if it has none."""
    for name in ("patch_size", "patch"):
        value = getattr(diffusion_model, name, None)
        if isinstance(value, int):
            return value
    return None


def token_grid(latent: torch.Tensor, patch_size: int) -> tuple[int, int, int]:
    """(frames, rows, columns) of the tokens a [B, C, (F,) H, W] latent becomes."""
    _, rows, columns = latent_token_grid(*latent.shape[-2:], patch_size)
    return (latent.shape[2] if latent.ndim == 5 else 1), rows, columns


def patch_tokens(latent: torch.Tensor, patch_size: int) -> int:
    """How many tokens a [B, C, (F,) H, W] latent becomes."""
    frames, rows, columns = token_grid(latent, patch_size)
    return frames * rows * columns


@dataclass
class JointLayout:
    """The joint sequence (text, target, then each reference) one model call should attend over, with the log
    weights on it, and how many attention calls over that sequence were weighted."""

    context: torch.Tensor
    text_log_weights: torch.Tensor | None
    """[B, T] (None: none on the text)."""
    target_tokens: int | None
    """None when the model's patch size is unknown: then no attention call can match."""
    reference_log_weights: torch.Tensor | None
    """[B, K] for the references in the call (None: none on them)."""
    reference_tokens: list[int]
    """Each reference's token count as recounted from its latent; the model's own report wins when it gives one."""
    region_query_log_weights: torch.Tensor | None = None
    """[B, R, target tokens] (None: no region binds in this call)."""
    region_text_members: torch.Tensor | None = None
    """[B, T, R]"""
    region_reference_members: torch.Tensor | None = None
    """[B, K, R]"""
    weighted_calls: int = 0

    def bias(self, keys: int, queries: int, reported: list[int] | None,
             device: torch.device) -> AttentionBias | None:
        """The call's bias, or None when the attention call is not over this joint sequence (with a region
        binding, its queries must be that sequence too, or its text and target alone, as under FluxKVCache,
        whose later steps attend from those to cached reference keys)."""
        spans = self.reference_tokens if reported is None else list(reported)
        if self.target_tokens is None or len(spans) != len(self.reference_tokens):
            return None
        pieces = key_bias_pieces(self.text_log_weights, self.target_tokens, self.reference_log_weights, spans,
                                 self.context)
        if sum(piece.shape[1] for piece in pieces) != keys:
            return None
        key = torch.cat([piece.to(device=device, dtype=torch.float32) for piece in pieces], dim=1)
        if self.region_query_log_weights is None:
            return AttentionBias(key)
        if queries not in (keys, keys - sum(spans)) or self.region_query_log_weights.shape[-1] != self.target_tokens:
            return None
        query_factors, key_factors = region_factor_pieces(self.region_query_log_weights, self.region_text_members,
                                                          self.region_reference_members, spans)
        return AttentionBias(key, query_factors[:, :queries].to(device), key_factors.to(device))

    def describe(self) -> str:
        return (f"{self.context.shape[1]} text + {self.target_tokens} target + "
                f"{' + '.join(map(str, self.reference_tokens)) or 'no'} reference tokens")


def joint_layout(c: dict, target: torch.Tensor, patch_size: int | None) -> JointLayout | None:
    """The layout of one call from the guider's log-weight conds (None when nothing is weighted); the conds
    are taken out of ``c``, which the model must not see."""
    text = c.pop(TEXT_KEY, None)
    references = c.pop(REFERENCE_KEY, None)
    regions = [c.pop(key, None) for key in (REGION_QUERY_KEY, REGION_TEXT_KEY, REGION_REFERENCE_KEY)]
    if text is None and references is None and regions[0] is None:
        return None
    def tokens(latent: torch.Tensor) -> int | None:
        return None if patch_size is None else patch_tokens(latent, patch_size)

    return JointLayout(c["c_crossattn"], None if text is None else text[..., 0], tokens(target), references,
                       [tokens(latent) for latent in c.get("ref_latents") or []], *regions)


def _additive(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    if mask.dtype == torch.bool:
        mask = torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(~mask, -math.inf)
    while mask.ndim < 4:
        mask = mask.unsqueeze(0 if mask.ndim == 2 else 1)
    return mask.to(dtype)


def _masked_call(func, q, k, v, heads, mask, bias: AttentionBias, *args, **kwargs):
    """The fallback: the bias as an additive [B, 1, 1 or queries, keys] mask, which every ComfyUI attention
    function takes (but which takes fast kernels off their fast path)."""
    weighted = bias.dense().to(q.dtype)[:, None]
    mask = weighted if mask is None else _additive(mask, q.dtype) + weighted
    return func(q, k, v, heads, mask, *args, **kwargs)


def _folded_call(func, q, k, v, heads, mask, bias: AttentionBias, *args, **kwargs):
    """The bias folded into extra q/k channels (squeeze_core.key_bias_fold): no mask is added."""
    factors = (bias.query_factors, bias.key_factors)
    if kwargs.get("skip_reshape"):
        head_dim = q.shape[-1]
        on_tokens = [None if f is None else f[:, None] for f in factors]
        q, k, v = fold_key_bias(q, k, v, bias.key[:, None, :], *on_tokens)
    else:
        head_dim = q.shape[-1] // heads
        on_tokens = [None if f is None else f[:, :, None] for f in factors]
        split = [tensor.unflatten(-1, (heads, head_dim)) for tensor in (q, k, v)]
        q, k, v = (tensor.flatten(-2) for tensor in fold_key_bias(*split, bias.key[:, :, None], *on_tokens))
    out = func(q, k, v, heads, mask, *args, **kwargs)
    if kwargs.get("skip_output_reshape"):
        return unfold_output(out, head_dim)
    return unfold_output(out.unflatten(-1, (heads, -1)), head_dim).flatten(-2)


def _device_call(func, q, k, v, heads, mask, bias: AttentionBias, *args, **kwargs):
    """The fold where a mask would leave the fast kernels (GPUs), the mask where it costs nothing (CPUs)."""
    chosen = _folded_call if fold_pays_off(q.device) else _masked_call
    return chosen(func, q, k, v, heads, mask, bias, *args, **kwargs)


KEY_WEIGHT_METHODS = {"auto": _device_call, "fold": _folded_call, "mask": _masked_call}
METHOD_OPTION = "squeeze_key_weight_method"
"""A model option (``model_options[METHOD_OPTION]``) that another node may set to force one of the methods."""


def key_bias_override(layout: JointLayout, previous=None, method: str = "auto"):
    """An ``optimized_attention_override`` that adds the layout's bias to attention over its joint sequence,
    folded into the queries and keys (``fold``, mask-free), as an additive mask (``mask``), or whichever
    keeps the device's fast kernel (``auto``).

    The reference spans are the ones the model reports for the call (``reference_image_num_tokens``, from
    ComfyUI 0.33) where it does, and the key count must equal the layout's total: attention over any
    other sequence (a text encoder inside the model, a ControlNet) is left alone. The bias is built for
    each call and dropped after it; the attention function stays the one ComfyUI picked."""
    weighted_call = KEY_WEIGHT_METHODS[method]

    def override(func, q, k, v, heads, mask=None, *args, **kwargs):
        inner = func if previous is None else functools.partial(previous, func)
        token_axis = 2 if kwargs.get("skip_reshape") else 1
        reported = (kwargs.get("transformer_options") or {}).get("reference_image_num_tokens")
        bias = layout.bias(k.shape[token_axis], q.shape[token_axis], reported, q.device)
        if bias is None:
            return inner(q, k, v, heads, mask, *args, **kwargs)
        layout.weighted_calls += 1
        return weighted_call(inner, q, k, v, heads, mask, bias, *args, **kwargs)

    return override


def key_weights_wrapper(patch_size: int | None, on_unweighted, previous=None, method: str = "auto"):
    """A ``model_function_wrapper`` that turns the guider's log-weight conds into an attention bias, and calls
    ``on_unweighted(layout)`` when no attention call of the model matched the joint sequence (a layout the
    pack cannot weight), so that it is never a silent no-op."""

    def wrapper(apply_model, args: dict):
        c = dict(args["c"])
        layout = joint_layout(c, args["input"], patch_size)
        if layout is not None:
            options = dict(c.get("transformer_options", {}))
            options["optimized_attention_override"] = key_bias_override(
                layout, options.get("optimized_attention_override"), method)
            c["transformer_options"] = options
        args = {**args, "c": c}
        if previous is not None:
            out = previous(apply_model, args)
        else:
            out = apply_model(args["input"], args["timestep"], **c)
        if layout is not None and layout.weighted_calls == 0:
            on_unweighted(layout)
        return out

    return wrapper
