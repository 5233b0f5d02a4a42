"""Flow matching of the Qwen-Image-architecture transformer together with the DLA, in the paper's two stages:
first conditioned on the MLLM's joint encoding alone, then with the references' VAE latents as extra tokens.
In the second stage each batch drops the reference tokens or the MLLM's image tokens now and then, so every
phase of a stage schedule (weights 0 and 1 of each stream) is a case the model was trained on."""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch

from ..dla import DualLayerAggregator, base_conditioning
from ..denoiser import predict_velocity
from ..latent_packing import pack_latents, token_grid
from ..schedule import StageWeights
from ..stage_conditioning import weighted_conditioning
from .loop import train
from .training_cache import FeatureCache, LatentCache


@dataclass(frozen=True)
class Stage:
    name: str
    steps: int
    reference_rate: float
    """Share of batches that see the reference tokens."""
    semantic_drop_rate: float
    """Share of batches whose context loses the MLLM's image tokens."""
    learning_rate: float = 1e-3
    batch: int = 32
    ema_decay: float = 0.999


def sample_sigmas(batch: int, generator: torch.Generator) -> torch.Tensor:
    """Logit-normal noise levels, as rectified-flow transformers are trained."""
    return torch.sigmoid(torch.randn(batch, generator=generator))


def train_stage(accelerator, transformer: torch.nn.Module, dla: DualLayerAggregator | None, features: FeatureCache,
                latents: LatentCache, stage: Stage, seed: int = 0) -> tuple[torch.nn.Module, DualLayerAggregator | None]:
    generator = torch.Generator().manual_seed(seed * 7919 + accelerator.process_index)
    choices = random.Random(f"{stage.name}-{seed}-{accelerator.process_index}")
    device = accelerator.device
    grid = token_grid(*latents.targets.shape[-2:])

    def loss(indices: torch.Tensor, step: int, modules: list[torch.nn.Module]) -> torch.Tensor:
        model = modules[0]
        batch_features = features.batch(indices, device)
        context = modules[1](batch_features) if len(modules) > 1 else base_conditioning(batch_features)
        weights = StageWeights(semantic=0.0 if choices.random() < stage.semantic_drop_rate else 1.0,
                               identity=(1.0 if choices.random() < stage.reference_rate else 0.0,))
        clean = latents.targets[indices].to(device)
        noise = torch.randn(clean.shape, generator=generator).to(device)
        sigma = sample_sigmas(len(indices), generator).to(device)
        noisy = (1 - sigma.view(-1, 1, 1, 1)) * clean + sigma.view(-1, 1, 1, 1) * noise
        tokens = pack_latents(noisy)
        condition = weighted_conditioning(context.context, context.attention_mask, context.roles,
                                          [pack_latents(latents.references[indices].to(device))], [grid], weights,
                                          tokens.shape[1])
        predicted = predict_velocity(model, tokens, condition, sigma, grid)
        return (predicted - pack_latents(noise - clean)).square().mean()

    modules = [transformer] if dla is None else [transformer, dla]
    trained = train(accelerator, modules, loss, size=len(latents.targets), batch=stage.batch, steps=stage.steps,
                    learning_rate=stage.learning_rate, label=stage.name, seed=seed, weight_decay=0.01,
                    ema_decay=stage.ema_decay)
    return trained[0], (trained[1] if dla is not None else None)
