"""Sizes and encoding settings of the miniature, shared by training and the pipeline."""

from __future__ import annotations

from dataclasses import dataclass

from ..dla import DLAConfig
from ..diffusion_config import DiffusionModelConfig
from ..tiny_models import TinyMLLMSpec
from ..tiny_vae import VAESizes
from .shipped import MLLM_FOLDER

IMAGE_SIZE = 64
"""Side of every image of the domain, reference and output."""
VISION_RESOLUTION = 16
"""The MLLM sees each picture area-averaged to 16 x 16 (every pixel the mean of a 4 x 4 cell, so the fine bits
vanish exactly, as a 7B VLM's 384-pixel budget blurs a 1024-pixel photo): 4 x 4 merged image tokens."""
VISION_PATCH = 2
BOX_RESAMPLE = 4
"""PIL's box filter: the image processor's (and so the joint encoder's) exact area average."""
MLLM_ROPE_THETA = 100.0
"""The MLLM's rotary base: each of the picture's axes then turns by 0.17 to 1.7 radian across its 4 image tokens
(at Qwen3-VL's usual 1e4 the slower of its two width frequencies turns by under 0.01)."""
VARIANTS = ("full", "last_layer", "shared_pooler", "no_vae_identity", "text_only")
"""The ablations, each from the same recipe: ``last_layer``: no DLA, the MLLM's final layer only;
``shared_pooler``: one DLA pooler for text and image tokens; ``no_vae_identity``: the second stage never sees
the references' latents (same step count); ``text_only``: the MLLM encodes the instruction alone."""

SEEDED_VARIANTS = ("full", "no_vae_identity")
"""The rows that decide claims (b) and (c), trained at several seeds; the other variants at seed 0."""


def run_name(variant: str, seed: int) -> str:
    """A study run's folder under its root; a variant run takes the MLLM and VAE of ``full`` at its seed."""
    return f"{variant}-seed{seed}"


def full_run_of(run: str) -> str:
    """The ``full`` run whose MLLM and VAE a variant run ``<variant>-seed<k>`` was trained with."""
    return run_name("full", int(run.rsplit("-seed", 1)[1]))


def study_runs(seeds: int = 3) -> list[tuple[str, int]]:
    """(variant, seed) of every trained row, in training order: seed 0's rows first (the seeded ones first of
    those), so a study cut short still answers every claim once."""
    runs = [(variant, 0) for variant in SEEDED_VARIANTS + tuple(v for v in VARIANTS if v not in SEEDED_VARIANTS)]
    return runs + [(variant, seed) for seed in range(1, seeds) for variant in SEEDED_VARIANTS]


@dataclass(frozen=True)
class MiniatureSpec:
    mllm: TinyMLLMSpec = TinyMLLMSpec(family="qwen3_vl", hidden_size=64, num_layers=4, num_heads=4, num_kv_heads=2,
                                      vision_hidden_size=64, vision_depth=2, vocab_size=640,
                                      vision_patch_size=VISION_PATCH, vision_resample=BOX_RESAMPLE,
                                      rope_theta=MLLM_ROPE_THETA)
    """Qwen3-VL, not Qwen2.5-VL: Qwen2.5-VL's rotary sections give a picture's width the lowest frequencies, and
    at a 16-channel head those turn by under 1e-4 radian across the 4 x 4 image tokens, so the taught MLLM could
    not see a subject's column (issue 13; README). Qwen3-VL interleaves the sections."""
    vae: VAESizes = VAESizes()
    diffusion: DiffusionModelConfig = DiffusionModelConfig(
        num_layers=4, attention_head_dim=32, num_attention_heads=4, joint_attention_dim=64, axes_dims_rope=(8, 12, 12))
    dla_pool_dim: int = 64
    dla_pool_heads: int = 4
    image_size: int = IMAGE_SIZE
    vision_resolution: int = VISION_RESOLUTION
    seed: int = 0

    def dla_config(self) -> DLAConfig:
        layers = self.mllm.num_layers
        return DLAConfig(mllm_hidden_size=self.mllm.hidden_size, mllm_num_layers=layers,
                         layer_indices=tuple(range(layers + 1)), context_dim=self.diffusion.joint_attention_dim,
                         pool_dim=self.dla_pool_dim, pool_heads=self.dla_pool_heads, source_model=MLLM_FOLDER)
