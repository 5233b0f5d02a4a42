"""What the frozen parts give every training case, computed once: the MLLM's joint encoding of the instruction
with the case's pictures (all layers, template dropped) and the VAE's latents of the target and each
reference. Training then only runs the DLA and the diffusion transformer."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .case_data import MAX_REFERENCES, CaseData
from ..features import MLLMFeatures, TokenRole, pack_kept_tokens
from ..identity import diffusers_vae_encoder
from ..joint_encoder import JointEncoder


@dataclass
class FeatureCache:
    hidden_states: torch.Tensor  # [L, N, T, D] float16, template dropped
    roles: torch.Tensor  # [N, T] long, PAD past each row's tokens
    layer_indices: tuple[int, ...]
    num_model_layers: int
    source: str
    with_references: bool

    def batch(self, indices: torch.Tensor, reference_count: int, device: torch.device | str = "cpu") -> MLLMFeatures:
        """The rows ``indices``, all of them cases with ``reference_count`` references."""
        roles = self.roles[indices]
        width = int((roles != TokenRole.PAD).sum(dim=1).max())
        roles = roles[:, :width]
        return MLLMFeatures(self.hidden_states[:, indices, :width].to(device=device, dtype=torch.float32),
                            (roles != TokenRole.PAD).long().to(device), roles.to(device), self.layer_indices,
                            self.num_model_layers, reference_count if self.with_references else 0, self.source)


@torch.no_grad()
def encode_features(encoder: JointEncoder, data: CaseData, *, with_references: bool = True,
                    chunk: int = 64) -> FeatureCache:
    """Joint encodings of every case's instruction with its pictures (``with_references=False``: the
    instruction alone, the text-only conditioning of the ablation), packed without the template."""
    rows, parts, roles, first = [], [], [], None
    for count, members in data.groups().items():
        for start in range(0, len(members), chunk):
            indices = members[start:start + chunk]
            prompts = [data.instruction(index) for index in indices.tolist()]
            pictures = ([data.references[indices, slot].permute(0, 2, 3, 1) for slot in range(count)]
                        if with_references else [])
            features = encoder.encode(prompts, pictures, allow_empty=not with_references)
            first = first or features
            keep = features.roles >= TokenRole.TEXT
            packed, _ = pack_kept_tokens(features.hidden_states.permute(1, 2, 0, 3), keep)
            packed_roles, _ = pack_kept_tokens(features.roles, keep)
            rows.append(indices)
            parts.append(packed.half())
            roles.append(packed_roles)
    width = max(part.shape[1] for part in parts)
    order = torch.argsort(torch.cat(rows))
    hidden = torch.cat([F.pad(part, (0, 0, 0, 0, 0, width - part.shape[1])) for part in parts])[order]
    roles_all = torch.cat([F.pad(part, (0, width - part.shape[1])) for part in roles])[order]
    return FeatureCache(hidden.permute(2, 0, 1, 3).contiguous(), roles_all, first.layer_indices,
                        first.num_model_layers, first.source, with_references)


@dataclass
class LatentCache:
    targets: torch.Tensor  # [N, C, h, w] normalised
    references: torch.Tensor  # [N, MAX_REFERENCES, C, h, w] normalised, zeros in empty slots


@torch.no_grad()
def encode_latents(vae, data: CaseData, chunk: int = 128) -> LatentCache:
    encode = diffusers_vae_encoder(vae)

    def latents(images: torch.Tensor) -> torch.Tensor:
        return torch.cat([encode(images[i:i + chunk].float() / 255.0)[:, :, 0] for i in range(0, len(images), chunk)])

    targets = latents(data.targets)
    references = torch.zeros(len(data), MAX_REFERENCES, *targets.shape[1:])
    for slot in range(MAX_REFERENCES):
        used = torch.nonzero(data.reference_counts > slot).flatten()
        if len(used):
            references[used, slot] = latents(data.references[used, slot])
    return LatentCache(targets, references)
