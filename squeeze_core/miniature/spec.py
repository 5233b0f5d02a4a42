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
VISION_RESOLUTION = 112
"""The MLLM sees each reference at 112x112: 4x4 merged image tokens of 28 px."""


@dataclass(frozen=True)
class MiniatureSpec:
    mllm: TinyMLLMSpec = TinyMLLMSpec(hidden_size=64, num_layers=4, num_heads=4, num_kv_heads=2,
                                      vision_hidden_size=64, vision_depth=2, vocab_size=640)
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
