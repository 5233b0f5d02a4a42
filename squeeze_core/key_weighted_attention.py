"""The joint text-then-image attention of Qwen-Image's and FLUX.1's blocks in diffusers with a bias on the keys:
log(w) on a stream's keys scales that stream's share of every softmax by w. It is how the standalone pipeline
weights the MLLM's image tokens and the reference tokens between 0 (left out) and 1 (untouched), and binds
references to regions, as the ComfyUI sampler does, and the same way: on a GPU the bias is folded into extra
q/k channels (key_bias_fold), so only padding ever needs a mask; on a CPU, where a mask costs nothing, it joins
the padding mask."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .key_bias_fold import AttentionBias, fold_key_bias, fold_pays_off, unfold_output


def key_weighted_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, text_tokens: int,
                           text_mask: torch.Tensor | None, attention_bias: AttentionBias | None) -> torch.Tensor:
    """Attention over the joint [B, text + image, heads, head_dim] sequences, padded text keys masked and
    ``attention_bias`` added to the logits; [B, text + image, heads * head_dim]."""
    head_dim = query.shape[-1]
    joint = [tensor.transpose(1, 2) for tensor in (query, key, value)]
    mask = _padding_bias(text_mask, query.shape[1] - text_tokens, joint[0].dtype)
    if attention_bias is not None and fold_pays_off(joint[0].device):
        factors = (attention_bias.query_factors, attention_bias.key_factors)
        joint = fold_key_bias(*joint, attention_bias.key[:, None],
                              *(None if factor is None else factor[:, None] for factor in factors))
    elif attention_bias is not None:
        dense = attention_bias.dense()[:, None].to(joint[0].dtype)
        mask = dense if mask is None else mask + dense
    out = unfold_output(F.scaled_dot_product_attention(*joint, attn_mask=mask), head_dim)
    return out.transpose(1, 2).flatten(2, 3)


class KeyWeightedQwenAttnProcessor:
    """Joint text-then-image attention of a Qwen-Image block; ``attention_bias`` over text + image keys is
    added to the attention logits (padding masked as diffusers masks it)."""

    def __call__(self, attn, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor,
                 encoder_hidden_states_mask: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                 image_rotary_emb: tuple[torch.Tensor, torch.Tensor] | None = None,
                 attention_bias: AttentionBias | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        from diffusers.models.transformers.transformer_qwenimage import apply_rotary_emb_qwen

        head_dim = attn.inner_dim // attn.heads
        query, key, value = _heads(attn, hidden_states, ("to_q", "to_k", "to_v"), head_dim)
        text_query, text_key, text_value = _heads(attn, encoder_hidden_states,
                                                  ("add_q_proj", "add_k_proj", "add_v_proj"), head_dim)
        query, key = attn.norm_q(query), attn.norm_k(key)
        text_query, text_key = attn.norm_added_q(text_query), attn.norm_added_k(text_key)
        if image_rotary_emb is not None:
            image_freqs, text_freqs = image_rotary_emb
            query, key = (apply_rotary_emb_qwen(t, image_freqs, use_real=False) for t in (query, key))
            text_query, text_key = (apply_rotary_emb_qwen(t, text_freqs, use_real=False) for t in (text_query, text_key))
        text_tokens = encoder_hidden_states.shape[1]
        out = key_weighted_attention(*(torch.cat(pair, dim=1) for pair in
                                       ((text_query, query), (text_key, key), (text_value, value))),
                                     text_tokens, encoder_hidden_states_mask, attention_bias)
        image_out = attn.to_out[0](out[:, text_tokens:].contiguous())
        return image_out, attn.to_add_out(out[:, :text_tokens].contiguous())


class KeyWeightedFluxAttnProcessor:
    """The attention of a FLUX.1 double block (text and image streams projected apart) or single block (one joint
    stream, text first, whose length ``text_mask`` gives); ``attention_bias`` over text + image keys is added
    to the logits, padded text keys are masked."""

    def __call__(self, attn, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor | None = None,
                 attention_mask: torch.Tensor | None = None, image_rotary_emb: torch.Tensor | None = None,
                 text_mask: torch.Tensor | None = None, attention_bias: AttentionBias | None = None):
        from diffusers.models.embeddings import apply_rotary_emb

        query, key, value = _heads(attn, hidden_states, ("to_q", "to_k", "to_v"), attn.head_dim)
        query, key = attn.norm_q(query), attn.norm_k(key)
        if encoder_hidden_states is not None:
            text_query, text_key, text_value = _heads(attn, encoder_hidden_states,
                                                      ("add_q_proj", "add_k_proj", "add_v_proj"), attn.head_dim)
            query = torch.cat([attn.norm_added_q(text_query), query], dim=1)
            key = torch.cat([attn.norm_added_k(text_key), key], dim=1)
            value = torch.cat([text_value, value], dim=1)
        if image_rotary_emb is not None:
            query, key = (apply_rotary_emb(t, image_rotary_emb, sequence_dim=1) for t in (query, key))
        text_tokens = _text_tokens(encoder_hidden_states, text_mask)
        out = key_weighted_attention(query, key, value, text_tokens, text_mask, attention_bias).to(query.dtype)
        if encoder_hidden_states is None:
            return out
        image_out = attn.to_out[1](attn.to_out[0](out[:, text_tokens:].contiguous()))
        return image_out, attn.to_add_out(out[:, :text_tokens].contiguous())


def _heads(attn, states: torch.Tensor, projections: tuple[str, str, str], head_dim: int) -> list[torch.Tensor]:
    return [getattr(attn, name)(states).unflatten(-1, (-1, head_dim)) for name in projections]


def _text_tokens(encoder_hidden_states: torch.Tensor | None, text_mask: torch.Tensor | None) -> int:
    if encoder_hidden_states is not None:
        return encoder_hidden_states.shape[1]
    if text_mask is None:
        raise ValueError("a FLUX single block's key-weighted attention needs text_mask to know where the text ends")
    return text_mask.shape[1]


def _padding_bias(text_mask: torch.Tensor | None, image_tokens: int, dtype: torch.dtype) -> torch.Tensor | None:
    """The additive mask over text + image keys that hides padded text tokens, as diffusers masks them."""
    if text_mask is None:
        return None
    padding = torch.zeros(text_mask.shape[0], text_mask.shape[1] + image_tokens, dtype=dtype, device=text_mask.device)
    padding[:, :text_mask.shape[1]].masked_fill_(~text_mask.bool(), torch.finfo(dtype).min)
    return padding[:, None, None, :]


def install_key_weighting(transformer: torch.nn.Module) -> None:
    """Give every joint attention of a diffusers Qwen-Image or FLUX.1 transformer the key-weighted processor."""
    flux = type(transformer).__name__ == "FluxTransformer2DModel"
    transformer.set_attn_processor(KeyWeightedFluxAttnProcessor() if flux else KeyWeightedQwenAttnProcessor())
