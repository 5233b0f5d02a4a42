"""Flow matching of the Qwen-Image-architecture transformer together with the DLA, in the paper's two stages:
first conditioned on the MLLM's joint encoding alone, then with the references' VAE latents as extra tokens.
In the second stage each batch drops each reference's tokens, or the MLLM's image tokens, now and then, so
every phase of a stage schedule (weights 0 and 1 of each stream) is a case the model was trained on.
The loss counts the subjects' code areas (mid and fine detail) ``detail_weight`` times."""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch

from ..dla import DualLayerAggregator, base_conditioning
from ..denoiser import predict_velocity
from ..flow_matching import noised, sample_sigmas, velocity_target
from ..latent_packing import pack_latents, token_grid, unpack_latents
from ..schedule import StageWeights
from ..stage_conditioning import weighted_conditioning
from .case_data import CaseData
from .loop import grouped_batch_indices, train
from .training_cache import FeatureCache, LatentCache

LATENT_SCALE = 8
"""Pixels per latent pixel of the Qwen-Image VAE."""


@dataclass(frozen=True)
class Stage:
    name: str
    steps: int
    reference_rate: float
    """Share of batches in which a reference's tokens are seen (drawn for each reference)."""
    semantic_drop_rate: float
    """Share of batches whose context loses the MLLM's image tokens."""
    learning_rate: float = 1e-3
    batch: int = 32
    ema_decay: float = 0.999
    detail_weight: float = 4.0


def train_stage(accelerator, transformer: torch.nn.Module, dla: DualLayerAggregator | None, data: CaseData,
                features: FeatureCache, latents: LatentCache, stage: Stage, seed: int = 0
                ) -> tuple[torch.nn.Module, DualLayerAggregator | None]:
    generator = torch.Generator().manual_seed(seed * 7919 + accelerator.process_index)
    choices = random.Random(f"{stage.name}-{seed}-{accelerator.process_index}")
    device = accelerator.device
    height, width = latents.targets.shape[-2:]
    grid = token_grid(height, width)
    detail = data.detail_weights(LATENT_SCALE, stage.detail_weight)

    def loss(indices: torch.Tensor, step: int, modules: list[torch.nn.Module]) -> torch.Tensor:
        model = modules[0]
        count = int(data.reference_counts[indices[0]])
        batch_features = features.batch(indices, count, device)
        context = modules[1](batch_features) if len(modules) > 1 else base_conditioning(batch_features)
        weights = StageWeights(semantic=0.0 if choices.random() < stage.semantic_drop_rate else 1.0,
                               identity=tuple(float(choices.random() < stage.reference_rate) for _ in range(count)))
        clean = latents.targets[indices].to(device)
        noise = torch.randn(clean.shape, generator=generator).to(device)
        sigma = sample_sigmas(len(indices), generator).to(device)
        tokens = pack_latents(noised(clean, noise, sigma))
        references = [pack_latents(latents.references[indices, slot].to(device)) for slot in range(count)]
        condition = weighted_conditioning(context.context, context.attention_mask, context.roles, references,
                                          [grid] * count, weights, grid)
        predicted = unpack_latents(predict_velocity(model, tokens, condition, sigma, grid), height, width)
        error = (predicted - velocity_target(clean, noise)).square().mean(dim=1)
        return (error * detail[indices].to(device)).sum() / detail[indices].sum()

    modules = [transformer] if dla is None else [transformer, dla]
    trained = train(accelerator, modules, loss, size=len(data), batch=stage.batch, steps=stage.steps,
                    learning_rate=stage.learning_rate, label=stage.name, seed=seed, weight_decay=0.01,
                    ema_decay=stage.ema_decay,
                    batches=grouped_batch_indices(data.groups().values(), stage.batch, seed, accelerator.process_index))
    return trained[0], (trained[1] if dla is not None else None)
