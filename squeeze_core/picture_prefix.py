"""The pictures' part of a joint prompt, encoded once and reused with any instruction.

The joint prompt puts the labelled pictures before the instruction and the MLLM attends causally, so the hidden
states and the key/value cache of that prefix do not depend on the instruction: a new instruction only runs its
own tokens on top of the cache (``JointEncoder.encode_pictures`` and ``JointEncoder.encode_after``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch


@dataclass
class PicturePrefix:
    """Every layer's hidden states and the key/value cache of the template and the pictures, for one MLLM."""

    states: torch.Tensor
    """[num_model_layers + 1, P, D]: embeddings, each decoder layer, and the final normed layer."""
    keys: list[torch.Tensor]
    """Per decoder layer, [kv_heads, P, head_dim]."""
    values: list[torch.Tensor]
    roles: torch.Tensor
    """[P] long TokenRole values (template, then picture k's label and image tokens)."""
    position_delta: int | None
    """Multimodal rotary models (Qwen-VL families): how far the text positions after the pictures run ahead of the
    token count; None for plain one-dimensional positions."""
    prompt_prefix: str
    """The rendered chat text of the prefix, so a prefix is never continued under another prompt format."""
    picture_labels: bool
    num_images: int
    source: str
    vision_pixel_budget: int

    @property
    def length(self) -> int:
        return int(self.states.shape[1])

    def key_value_cache(self, batch: int, config):
        """A fresh transformers cache holding this prefix for ``batch`` continuations (the model extends it)."""
        from transformers import DynamicCache

        cache = DynamicCache(config=config)
        for layer, (key, value) in enumerate(zip(self.keys, self.values)):
            cache.update(key.unsqueeze(0).expand(batch, -1, -1, -1).contiguous(),
                         value.unsqueeze(0).expand(batch, -1, -1, -1).contiguous(), layer)
        return cache

    def continuation_positions(self, batch: int, length: int, device: torch.device) -> torch.Tensor:
        """Position ids of ``length`` tokens after the prefix: [3, B, L] for multimodal rotary models, else [B, L]."""
        positions = torch.arange(self.length, self.length + length, device=device).expand(batch, length)
        if self.position_delta is None:
            return positions
        return (positions + self.position_delta).unsqueeze(0).expand(3, batch, length)

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> PicturePrefix:
        def move(tensor: torch.Tensor) -> torch.Tensor:
            return tensor.to(device=device, dtype=dtype)

        return replace(self, states=move(self.states), keys=[move(k) for k in self.keys],
                       values=[move(v) for v in self.values], roles=self.roles.to(device=device))


def cache_tensors(cache) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """(keys, values) per layer of a batch-of-one transformers cache, batch dimension dropped."""
    layers = cache.layers
    return [layer.keys[0] for layer in layers], [layer.values[0] for layer in layers]
