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
from ..flow_matching import sample_sigmas
from ..schedule import StageWeights
from ..training.objective import velocity_errors
from ..training.settings import RecipeStage
from .case_data import CaseData
from .loop import grouped_batch_indices, train
from .training_cache import FeatureCache, LatentCache

LATENT_SCALE = 8
"""Pixels per latent pixel of the Qwen-Image VAE."""


@dataclass(frozen=True)
class Stage(RecipeStage):
    """A recipe stage drawn per batch rather than per sample, with the miniature's batch training settings."""

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
    detail = data.detail_weights(LATENT_SCALE, stage.detail_weight)

    def loss(indices: torch.Tensor, step: int, modules: list[torch.nn.Module]) -> torch.Tensor:
        model = modules[0]
        count = int(data.reference_counts[indices[0]])
        batch_features = features.batch(indices, count, device)
        context = modules[1](batch_features) if len(modules) > 1 else base_conditioning(batch_features)
        drop_image_tokens, kept = stage.draw_streams(choices.random, count)
        weights = StageWeights(semantic=0.0 if drop_image_tokens else 1.0, identity=tuple(map(float, kept)))
        clean = latents.targets[indices].to(device)
        noise = torch.randn(clean.shape, generator=generator).to(device)
        sigma = sample_sigmas(len(indices), generator).to(device)
        references = [latents.references[indices, slot].to(device) for slot in range(count)]
        error = velocity_errors(model, context, clean, noise, sigma, references, weights).mean(dim=1)
        return (error * detail[indices].to(device)).sum() / detail[indices].sum()

    modules = [transformer] if dla is None else [transformer, dla]
    trained = train(accelerator, modules, loss, size=len(data), batch=stage.batch, steps=stage.steps,
                    learning_rate=stage.learning_rate, label=stage.name, seed=seed, weight_decay=0.01,
                    ema_decay=stage.ema_decay,
                    batches=grouped_batch_indices(data.groups().values(), stage.batch, seed, accelerator.process_index))
    return trained[0], (trained[1] if dla is not None else None)
