"""The contract between the MLLM joint encoders and everything downstream."""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import IntEnum

import torch


class TokenRole(IntEnum):
    """What a token of the joint sequence is; image k (0-based) has role ``IMAGE + k``."""

    PAD = 0
    TEMPLATE = 1
    TEXT = 2
    IMAGE = 3


def image_role(index: int) -> int:
    return int(TokenRole.IMAGE) + index


@dataclass
class MLLMFeatures:
    """Hidden states of several MLLM layers for one joint (text + images) encoding.

    ``hidden_states[i]`` is the output of model layer ``layer_indices[i]``: 0 is the embedding
    output, n the output of decoder layer n, and ``num_model_layers`` the final-normed last layer
    (what diffusion models such as Qwen-Image are trained on).
    """

    hidden_states: torch.Tensor  # [L, B, T, D]
    attention_mask: torch.Tensor  # [B, T], 1 for real tokens
    roles: torch.Tensor  # [B, T] long, TokenRole values
    layer_indices: tuple[int, ...]
    num_model_layers: int
    num_images: int
    source: str = ""

    def __post_init__(self) -> None:
        layers, batch, length, _ = self.hidden_states.shape
        if layers != len(self.layer_indices):
            raise ValueError(f"hidden_states has {layers} layers but layer_indices names {len(self.layer_indices)}")
        if tuple(self.roles.shape) != (batch, length) or tuple(self.attention_mask.shape) != (batch, length):
            raise ValueError("roles and attention_mask must be [B, T] like hidden_states[0]")

    @property
    def hidden_size(self) -> int:
        return self.hidden_states.shape[-1]

    @property
    def batch_size(self) -> int:
        return self.hidden_states.shape[1]

    @property
    def has_final_layer(self) -> bool:
        return self.layer_indices[-1] == self.num_model_layers

    def layer(self, model_layer: int) -> torch.Tensor:
        """The [B, T, D] states of one model layer (negative counts from the final layer)."""
        if model_layer < 0:
            model_layer += self.num_model_layers + 1
        if model_layer not in self.layer_indices:
            raise KeyError(f"layer {model_layer} was not captured; captured: {list(self.layer_indices)}")
        return self.hidden_states[self.layer_indices.index(model_layer)]

    def kept_mask(self) -> torch.Tensor:
        """Tokens that reach the diffusion model: everything but padding and the template prefix."""
        return self.roles >= TokenRole.TEXT

    def image_token_counts(self) -> list[list[int]]:
        """Per batch item, the number of tokens of each image."""
        return [[int((row == image_role(k)).sum()) for k in range(self.num_images)] for row in self.roles]

    def select_layers(self, model_layers: tuple[int, ...]) -> MLLMFeatures:
        stacked = torch.stack([self.layer(i) for i in model_layers])
        return replace(self, hidden_states=stacked, layer_indices=tuple(model_layers))

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> MLLMFeatures:
        return replace(
            self,
            hidden_states=self.hidden_states.to(device=device, dtype=dtype),
            attention_mask=self.attention_mask.to(device=device),
            roles=self.roles.to(device=device),
        )


def pack_kept_tokens(values: torch.Tensor, keep: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Gather each row's kept tokens to the front, padding with zeros on the right.

    ``values`` is [B, T, ...] and ``keep`` [B, T] bool; returns ([B, T', ...], mask [B, T'])
    where T' is the longest row's count, as the Qwen-Image pipelines pad their prompt embeddings.
    """
    counts = keep.sum(dim=1)
    width = int(counts.max()) if counts.numel() else 0
    packed = values.new_zeros((values.shape[0], width, *values.shape[2:]))
    mask = torch.zeros(values.shape[0], width, dtype=torch.long, device=values.device)
    for row in range(values.shape[0]):
        n = int(counts[row])
        packed[row, :n] = values[row][keep[row]]
        mask[row, :n] = 1
    return packed, mask
