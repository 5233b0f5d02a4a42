"""Qwen-Image's joint attention in diffusers with a bias on the keys: log(w) on a stream's keys scales that
stream's share of every softmax by w. It is how the standalone pipeline weights the MLLM's image tokens and the
reference tokens between 0 (left out) and 1 (untouched), and binds references to regions, as the ComfyUI
sampler does, and the same way: on a GPU the bias is folded into extra q/k channels (key_bias_fold), so only
padding ever needs a mask; on a CPU, where a mask costs nothing, it joins the padding mask."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .key_bias_fold import AttentionBias, fold_key_bias, fold_pays_off, unfold_output


class KeyWeightedQwenAttnProcessor:
    """Joint text-then-image attention of a Qwen-Image block; ``attention_bias`` over text + image keys is
    added to the attention logits (padding masked as diffusers masks it)."""

    def __call__(self, attn, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor,
                 encoder_hidden_states_mask: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                 image_rotary_emb: tuple[torch.Tensor, torch.Tensor] | None = None,
                 attention_bias: AttentionBias | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        from diffusers.models.transformers.transformer_qwenimage import apply_rotary_emb_qwen

        head_dim = attn.inner_dim // attn.heads

        def heads(tensor: torch.Tensor) -> torch.Tensor:
            return tensor.unflatten(-1, (-1, head_dim))

        query, key, value = (heads(attn.to_q(hidden_states)), heads(attn.to_k(hidden_states)),
                             heads(attn.to_v(hidden_states)))
        text_query, text_key, text_value = (heads(attn.add_q_proj(encoder_hidden_states)),
                                            heads(attn.add_k_proj(encoder_hidden_states)),
                                            heads(attn.add_v_proj(encoder_hidden_states)))
        query, key = attn.norm_q(query), attn.norm_k(key)
        text_query, text_key = attn.norm_added_q(text_query), attn.norm_added_k(text_key)
        if image_rotary_emb is not None:
            image_freqs, text_freqs = image_rotary_emb
            query, key = (apply_rotary_emb_qwen(t, image_freqs, use_real=False) for t in (query, key))
            text_query, text_key = (apply_rotary_emb_qwen(t, text_freqs, use_real=False) for t in (text_query, text_key))
        joint = [torch.cat(pair, dim=1).transpose(1, 2) for pair in
                 ((text_query, query), (text_key, key), (text_value, value))]
        mask = _padding_bias(encoder_hidden_states_mask, hidden_states.shape[1], joint[0].dtype)
        if attention_bias is not None and fold_pays_off(joint[0].device):
            factors = (attention_bias.query_factors, attention_bias.key_factors)
            joint = fold_key_bias(*joint, attention_bias.key[:, None],
                                  *(None if factor is None else factor[:, None] for factor in factors))
        elif attention_bias is not None:
            dense = attention_bias.dense()[:, None].to(joint[0].dtype)
            mask = dense if mask is None else mask + dense
        out = unfold_output(F.scaled_dot_product_attention(*joint, attn_mask=mask), head_dim)
        out = out.transpose(1, 2).flatten(2, 3)
        text_tokens = encoder_hidden_states.shape[1]
        image_out = attn.to_out[0](out[:, text_tokens:].contiguous())
        return image_out, attn.to_add_out(out[:, :text_tokens].contiguous())


def _padding_bias(text_mask: torch.Tensor | None, image_tokens: int, dtype: torch.dtype) -> torch.Tensor | None:
    """The additive mask over text + image keys that hides padded text tokens, as diffusers masks them."""
    if text_mask is None:
        return None
    padding = torch.zeros(text_mask.shape[0], text_mask.shape[1] + image_tokens, dtype=dtype, device=text_mask.device)
    padding[:, :text_mask.shape[1]].masked_fill_(~text_mask.bool(), torch.finfo(dtype).min)
    return padding[:, None, None, :]


def install_key_weighting(transformer: torch.nn.Module) -> None:
    """Give every joint attention of a diffusers ``QwenImageTransformer2DModel`` the key-weighted processor."""
    transformer.set_attn_processor(KeyWeightedQwenAttnProcessor())
