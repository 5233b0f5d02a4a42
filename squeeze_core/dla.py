"""Dual Layer Aggregation: the MLLM's captured layers, per token, into the diffusion model's context.

Text tokens and image tokens each get their own pooler. A pooler reads one token's hidden states
from every captured layer as a short sequence (shallow layers carry texture and edges, deep ones
semantics), runs a small transformer along that layer axis and collapses it with a learned
attention pooling. Its result is normed, projected back to the MLLM width and added to the base
layer through a gate that starts at zero: untrained, the module returns exactly the final-normed
last layer with the template dropped, which is what Qwen-Image-style models were trained on.
A last projection maps to the context width (identity when the widths match).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import torch
from torch import nn

from .errors import DLAMismatchError
from .features import MLLMFeatures, TokenRole, pack_kept_tokens


@dataclass(frozen=True)
class DLAConfig:
    """Everything needed to rebuild a DLA; stored in its safetensors metadata."""

    mllm_hidden_size: int
    mllm_num_layers: int
    layer_indices: tuple[int, ...]
    context_dim: int
    pool_dim: int = 256
    pool_heads: int = 4
    pool_blocks: int = 1
    source_model: str = ""
    shared_pooler: bool = False
    """One pooler for text and image tokens (the ablation of the dual design; each keeps its own gate)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "layer_indices", tuple(int(i) for i in self.layer_indices))
        if not self.layer_indices:
            raise ValueError("a DLA needs at least one captured layer")
        if self.layer_indices[-1] != self.mllm_num_layers:
            raise ValueError(
                f"the last captured layer must be the final one ({self.mllm_num_layers}): the gated residual "
                f"starts from it; got {list(self.layer_indices)}"
            )
        if self.pool_dim % self.pool_heads:
            raise ValueError(f"pool_dim {self.pool_dim} must be divisible by pool_heads {self.pool_heads}")

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> DLAConfig:
        return cls(**json.loads(text))

    @classmethod
    def for_features(cls, features: MLLMFeatures, context_dim: int | None = None, **kwargs) -> DLAConfig:
        """A config matching ``features`` (all of its captured layers)."""
        return cls(
            mllm_hidden_size=features.hidden_size,
            mllm_num_layers=features.num_model_layers,
            layer_indices=features.layer_indices,
            context_dim=context_dim or features.hidden_size,
            source_model=features.source,
            **kwargs,
        )


class LayerAttentionPooler(nn.Module):
    """Collapses a [N, L, D] stack of per-layer states into [N, D] by attention along the layer axis."""

    def __init__(self, hidden_size: int, num_layers: int, dim: int, heads: int, blocks: int):
        super().__init__()
        self.input_norm = nn.RMSNorm(hidden_size, elementwise_affine=False)
        self.input_proj = nn.Linear(hidden_size, dim)
        self.layer_embedding = nn.Parameter(torch.zeros(num_layers, dim))
        block = nn.TransformerEncoderLayer(
            dim, heads, dim_feedforward=2 * dim, dropout=0.0, activation="gelu", batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(block, blocks, enable_nested_tensor=False)
        self.pool_norm = nn.LayerNorm(dim)
        self.pool_query = nn.Parameter(torch.zeros(dim))
        self.output_norm = nn.RMSNorm(dim)
        self.output_proj = nn.Linear(dim, hidden_size)
        nn.init.normal_(self.layer_embedding, std=0.02)
        nn.init.normal_(self.pool_query, std=dim**-0.5)

    def _encoded(self, stacks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(states along the layer axis after the small transformer [N, L, dim], pooling weights [N, L])."""
        x = self.encoder(self.input_proj(self.input_norm(stacks)) + self.layer_embedding)
        scores = self.pool_norm(x) @ self.pool_query / x.shape[-1] ** 0.5
        return x, scores.softmax(dim=-1)

    def layer_weights(self, stacks: torch.Tensor) -> torch.Tensor:
        """[N, L]: how much each captured layer's slot weighs in each token's pooled state (rows sum to 1)."""
        return self._encoded(stacks)[1]

    def forward(self, stacks: torch.Tensor) -> torch.Tensor:
        x, weights = self._encoded(stacks)
        pooled = (weights.unsqueeze(-1) * x).sum(dim=1)
        return self.output_proj(self.output_norm(pooled))


@dataclass
class AggregatedContext:
    """The diffusion model's context: template and padding dropped, rows padded on the right."""

    context: torch.Tensor  # [B, T', context_dim]
    attention_mask: torch.Tensor  # [B, T'] long
    roles: torch.Tensor  # [B, T'] TokenRole values (TEXT or IMAGE + k), PAD where masked


@dataclass
class LayerWeights:
    """The DLA's pooling weights over the MLLM's layers for each kept token, and how open each stream's gate is
    (a stream's pooled state is added to the final layer times its gate: RMS 0 means the pooling is unused)."""

    weights: torch.Tensor  # [B, T', L], rows of kept tokens sum to 1, zeros where padded
    roles: torch.Tensor  # [B, T'] TEXT or IMAGE + k, PAD where padded
    layer_indices: tuple[int, ...]
    text_gate: float
    image_gate: float


class DualLayerAggregator(nn.Module):
    def __init__(self, config: DLAConfig):
        super().__init__()
        self.config = config
        args = (config.mllm_hidden_size, len(config.layer_indices), config.pool_dim, config.pool_heads,
                config.pool_blocks)
        self.text_pooler = LayerAttentionPooler(*args)
        if not config.shared_pooler:
            self.image_pooler = LayerAttentionPooler(*args)
        self.text_gate = nn.Parameter(torch.zeros(config.mllm_hidden_size))
        self.image_gate = nn.Parameter(torch.zeros(config.mllm_hidden_size))
        if config.context_dim == config.mllm_hidden_size:
            self.context_proj: nn.Module = nn.Identity()
        else:
            self.context_proj = nn.Linear(config.mllm_hidden_size, config.context_dim)

    def check_compatible(self, features: MLLMFeatures) -> None:
        """Raise a DLAMismatchError naming expected and found values if ``features`` do not fit."""
        cfg = self.config
        if features.hidden_size != cfg.mllm_hidden_size:
            raise DLAMismatchError(
                f"this DLA was made for an MLLM of width {cfg.mllm_hidden_size} but the features have width "
                f"{features.hidden_size} (from {features.source or 'an unnamed MLLM'}); use a DLA trained for "
                f"this MLLM, or none"
            )
        if features.num_model_layers != cfg.mllm_num_layers:
            raise DLAMismatchError(
                f"this DLA was made for an MLLM with {cfg.mllm_num_layers} layers but the features come from one "
                f"with {features.num_model_layers}; use a DLA trained for this MLLM, or none"
            )
        missing = [i for i in cfg.layer_indices if i not in features.layer_indices]
        if missing:
            raise DLAMismatchError(
                f"this DLA reads MLLM layers {list(cfg.layer_indices)} but layers {missing} were not captured "
                f"(captured: {list(features.layer_indices)}); encode with all layers"
            )

    def _packed(self, features: MLLMFeatures) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(per-token layer stacks [B, T', L, D], roles [B, T'], mask [B, T']) of the tokens that reach the model."""
        self.check_compatible(features)
        if features.layer_indices != self.config.layer_indices:
            features = features.select_layers(self.config.layer_indices)
        param = self.text_gate
        states = features.hidden_states.to(device=param.device, dtype=param.dtype)
        roles = features.roles.to(param.device)
        keep = roles >= TokenRole.TEXT
        stacks, _ = pack_kept_tokens(states.permute(1, 2, 0, 3), keep)
        packed_roles, mask = pack_kept_tokens(roles, keep)
        return stacks, packed_roles, mask

    def _streams(self, roles: torch.Tensor) -> list[tuple[torch.Tensor, LayerAttentionPooler, torch.Tensor]]:
        """(which flattened tokens, pooler, gate) of the text stream and of the image stream."""
        image_pooler = self.text_pooler if self.config.shared_pooler else self.image_pooler
        flat = roles.flatten()
        return [(flat == TokenRole.TEXT, self.text_pooler, self.text_gate),
                (flat >= TokenRole.IMAGE, image_pooler, self.image_gate)]

    def forward(self, features: MLLMFeatures) -> AggregatedContext:
        stacks, packed_roles, mask = self._packed(features)
        base = stacks[:, :, -1]
        flat = stacks.flatten(0, 1)
        residual = torch.zeros_like(base).flatten(0, 1)
        for chosen, pooler, gate in self._streams(packed_roles):
            if chosen.any():
                residual[chosen] = gate * pooler(flat[chosen])
        hidden = base + residual.view_as(base)
        return AggregatedContext(self.context_proj(hidden), mask, packed_roles)

    @torch.no_grad()
    def layer_weights(self, features: MLLMFeatures) -> LayerWeights:
        """How much each captured layer contributes to each kept token's pooled state, per stream."""
        stacks, packed_roles, _ = self._packed(features)
        flat = stacks.flatten(0, 1)
        weights = torch.zeros(flat.shape[:2], dtype=flat.dtype, device=flat.device)
        gates = []
        for chosen, pooler, gate in self._streams(packed_roles):
            if chosen.any():
                weights[chosen] = pooler.layer_weights(flat[chosen])
            gates.append(float(gate.square().mean().sqrt()))
        return LayerWeights(weights.view(*stacks.shape[:3]).cpu(), packed_roles.cpu(), self.config.layer_indices,
                            *gates)


def base_conditioning(features: MLLMFeatures) -> AggregatedContext:
    """What the base model uses without a DLA: the final-normed last layer, template dropped."""
    if not features.has_final_layer:
        raise DLAMismatchError(
            f"the final MLLM layer ({features.num_model_layers}) was not captured "
            f"(captured: {list(features.layer_indices)}); encode with the final layer included"
        )
    keep = features.kept_mask()
    context, mask = pack_kept_tokens(features.hidden_states[-1], keep)
    roles, _ = pack_kept_tokens(features.roles, keep)
    return AggregatedContext(context, mask, roles)
