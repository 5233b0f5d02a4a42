"""What the frozen parts give every training sample, computed once: the MLLM's joint encoding (all layers,
template dropped) and the VAE's latents of target and reference. Training then only runs the DLA and the
diffusion transformer."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .domain_data import DomainDataset
from ..features import MLLMFeatures, TokenRole, pack_kept_tokens
from ..identity import diffusers_vae_encoder
from ..joint_encoder import JointEncoder


@dataclass
class FeatureCache:
    hidden_states: torch.Tensor  # [L, N, T, D] float16, template dropped
    roles: torch.Tensor  # [N, T] long, PAD past each row's tokens
    layer_indices: tuple[int, ...]
    num_model_layers: int
    num_images: int
    source: str

    def batch(self, indices: torch.Tensor, device: torch.device | str = "cpu") -> MLLMFeatures:
        roles = self.roles[indices]
        return MLLMFeatures(self.hidden_states[:, indices].to(device=device, dtype=torch.float32),
                            (roles != TokenRole.PAD).long().to(device), roles.to(device), self.layer_indices,
                            self.num_model_layers, self.num_images, self.source)


@torch.no_grad()
def encode_features(encoder: JointEncoder, data: DomainDataset, *, with_references: bool = True,
                    chunk: int = 64) -> FeatureCache:
    """Joint encodings of every sample's instruction with its reference (``with_references=False``: the
    instruction alone, the text-only conditioning of the ablation)."""
    parts, roles, first = [], [], None
    for start in range(0, len(data), chunk):
        rows = range(start, min(start + chunk, len(data)))
        prompts = [data.samples[row].instruction.text for row in rows]
        pictures = [data.references[start:rows.stop].permute(0, 2, 3, 1)] if with_references else []
        features = encoder.encode(prompts, pictures)
        first = first or features
        keep = features.roles >= TokenRole.TEXT
        packed, _ = pack_kept_tokens(features.hidden_states.permute(1, 2, 0, 3), keep)
        packed_roles, _ = pack_kept_tokens(features.roles, keep)
        parts.append(packed.half())
        roles.append(packed_roles)
    width = max(part.shape[1] for part in parts)
    hidden = torch.cat([torch.nn.functional.pad(part, (0, 0, 0, 0, 0, width - part.shape[1])) for part in parts])
    roles_all = torch.cat([torch.nn.functional.pad(part, (0, width - part.shape[1])) for part in roles])
    return FeatureCache(hidden.permute(2, 0, 1, 3).contiguous(), roles_all, first.layer_indices,
                        first.num_model_layers, first.num_images, first.source)


@dataclass
class LatentCache:
    targets: torch.Tensor  # [N, C, h, w] normalised
    references: torch.Tensor  # [N, C, h, w] normalised


@torch.no_grad()
def encode_latents(vae, data: DomainDataset, chunk: int = 128) -> LatentCache:
    """Every target, and each identity's reference once (a reference depends on its identity alone)."""
    encode = diffusers_vae_encoder(vae)

    def latents(images: torch.Tensor) -> torch.Tensor:
        return torch.cat([encode(images[i:i + chunk].float() / 255.0)[:, :, 0] for i in range(0, len(images), chunk)])

    first_of = {}
    for index, sample in enumerate(data.samples):
        first_of.setdefault(sample.subject, index)
    unique = list(first_of.values())
    slot = {index: k for k, index in enumerate(unique)}
    encoded = latents(data.references[unique])
    references = encoded[torch.tensor([slot[first_of[sample.subject]] for sample in data.samples])]
    return LatentCache(latents(data.targets), references)

