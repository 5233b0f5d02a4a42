"""One command that trains the whole miniature from nothing: the MLLM taught the domain, the VAE, then the
diffusion transformer with the DLA in two stages; it writes every part as the files ComfyUI's loaders and
the standalone pipeline read. Variants for the ablations reuse a trained MLLM and VAE."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field, replace

import torch

from ..denoiser import build_transformer
from ..dla import DualLayerAggregator
from ..files import load_vae, save_diffusion_model, save_dla, save_vae
from .case_data import CaseData, draw_split
from ..joint_encoder import JointEncoder
from ..seeding import seeded
from ..tiny_models import save_mllm_folder
from .diffusion_training import Stage, train_stage
from .mllm_teaching import teach_mllm
from .shipped import MiniatureFiles
from .spec import VARIANTS, MiniatureSpec, run_name, study_runs
from .training_cache import encode_features, encode_latents
from ..training.recipe import make_accelerator
from .vae_training import refine_decoder, train_vae

logger = logging.getLogger("squeeze.training")


@dataclass(frozen=True)
class TrainingPlan:
    """Step counts for 2 CPU cores. A whole run from nothing on an otherwise idle machine (2026-12-07, seed 0)
    took 48.5 minutes wall and 3.2 GiB peak memory: rendering the cases and the MLLM 2.9 min (0.14 s a step), VAE
    16.3 (0.28), decoder 2.9 (0.42), caching the encodings 3.3, stage 1 2.5 (0.15), stage 2 20.5 (0.18)."""

    samples: int = 12000
    unconditional_rate: float = 0.1
    """Share of training cases with an empty instruction, for classifier-free guidance."""
    mllm_steps: int = 1200
    vae_steps: int = 3500
    decoder_steps: int = 400
    stages: tuple[Stage, ...] = field(default_factory=lambda: (
        Stage("stage 1: MLLM conditioning", steps=1000, reference_rate=0.0, semantic_drop_rate=0.0),
        Stage("stage 2: MLLM + VAE identity", steps=7000, reference_rate=0.85, semantic_drop_rate=0.15),
    ))

    def scaled(self, factor: float) -> TrainingPlan:
        """The same plan with every step count scaled (at least one step each), for quick checks."""
        def scale(count: int) -> int:
            return max(1, round(count * factor))

        return replace(self, samples=max(64, scale(self.samples)), mllm_steps=scale(self.mllm_steps),
                       vae_steps=scale(self.vae_steps), decoder_steps=scale(self.decoder_steps),
                       stages=tuple(replace(stage, steps=scale(stage.steps)) for stage in self.stages))


def train_miniature(out: str | os.PathLike, plan: TrainingPlan = TrainingPlan(), *, variant: str = "full",
                    reuse: str | os.PathLike | None = None, checkpoints: str | os.PathLike | None = None,
                    spec: MiniatureSpec = MiniatureSpec(), data: CaseData | None = None) -> MiniatureFiles:
    """Train and write the miniature under ``out`` (ComfyUI model folder names); with ``reuse``, the MLLM
    and VAE of a finished run there are loaded instead of trained; with ``checkpoints``, the transformer and
    DLA after each earlier stage are written there too (``stage_1``: the model before VAE identity); ``data``
    replaces the plan's training cases (a diagnostic's changed copy of them)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; choose one of {VARIANTS}")
    accelerator = make_accelerator()
    files = MiniatureFiles(os.fspath(out))
    started = time.perf_counter()
    logger.info("training the %s miniature on %d process(es), device %s", variant, accelerator.num_processes,
                accelerator.device)
    if data is None:
        data = CaseData(draw_split(plan.samples, "train", spec.seed), plan.unconditional_rate, spec.seed)
    if reuse is not None:
        trained = MiniatureFiles(os.fspath(reuse))
        encoder = JointEncoder.from_folder(trained.mllm, vision_pixel_budget=spec.vision_resolution**2)
        vae = load_vae(trained.vae)
    else:
        encoder = teach_mllm(accelerator, data, spec, steps=plan.mllm_steps)
        images = torch.cat([data.targets, data.references[:, 0]])
        vae = train_vae(accelerator, images, spec.vae, steps=plan.vae_steps, seed=spec.seed)
        vae = refine_decoder(accelerator, vae, images, steps=plan.decoder_steps, seed=spec.seed)
        if accelerator.is_main_process:
            save_mllm_folder(encoder.model, encoder.processor, files.mllm)
            os.makedirs(os.path.dirname(files.vae), exist_ok=True)
            save_vae(vae, files.vae)
    features = encode_features(encoder, data, with_references=variant != "text_only")
    latents = encode_latents(vae, data)
    logger.info("encoded %d samples (%d context tokens each at most) at %.0f s", len(data),
                features.hidden_states.shape[2], time.perf_counter() - started)
    transformer = build_transformer(spec.diffusion, seed=spec.seed)
    with seeded(spec.seed + 1):
        dla = (DualLayerAggregator(replace(spec.dla_config(), shared_pooler=variant == "shared_pooler"))
               if variant != "last_layer" else None)
    stages = plan.stages if variant != "no_vae_identity" else tuple(
        replace(stage, reference_rate=0.0) for stage in plan.stages)
    for number, stage in enumerate(stages, start=1):
        transformer, dla = train_stage(accelerator, transformer, dla, data, features, latents, stage, seed=spec.seed)
        if checkpoints is not None and number < len(stages) and accelerator.is_main_process:
            _save_denoiser(MiniatureFiles(os.path.join(os.fspath(checkpoints), f"stage_{number}")), transformer,
                           dla, spec)
    if accelerator.is_main_process:
        _save_denoiser(files, transformer, dla, spec)
    accelerator.wait_for_everyone()
    logger.info("trained the %s miniature in %.1f min", variant, (time.perf_counter() - started) / 60)
    return files


def train_study(root: str | os.PathLike, seeds: int = 3, plan: TrainingPlan = TrainingPlan()) -> list[str]:
    """Train every run of the study that ``root`` does not hold yet (``study_runs`` order), each variant on
    the MLLM and VAE of the full run of its seed; returns the runs trained. A run counts as finished once
    its transformer file is written (the last file a run writes), so a study cut short resumes."""
    trained = []
    for variant, seed in study_runs(seeds):
        files = MiniatureFiles(os.path.join(os.fspath(root), run_name(variant, seed)))
        if os.path.exists(files.diffusion):
            continue
        reuse = None if variant == "full" else os.path.join(os.fspath(root), run_name("full", seed))
        train_miniature(files.root, plan, variant=variant, reuse=reuse, spec=MiniatureSpec(seed=seed))
        trained.append(os.path.basename(files.root))
    return trained


def _save_denoiser(files: MiniatureFiles, transformer: torch.nn.Module, dla: DualLayerAggregator | None,
                   spec: MiniatureSpec) -> None:
    """The DLA first: a run whose transformer file exists is complete."""
    if dla is not None:
        os.makedirs(os.path.dirname(files.dla), exist_ok=True)
        save_dla(dla, files.dla)
    os.makedirs(os.path.dirname(files.diffusion), exist_ok=True)
    save_diffusion_model(transformer.state_dict(), spec.diffusion, files.diffusion)
