"""Sizes, file names and encoding settings of the miniature, shared by training, the pipeline and the nodes."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ..dla import DLAConfig
from ..diffusion_config import DiffusionModelConfig
from ..tiny_models import TinyMLLMSpec

IMAGE_SIZE = 64
"""Side of every image of the domain, reference and output."""
VISION_RESOLUTION = 112
"""The MLLM sees each reference at 112x112: 4x4 merged image tokens of 28 px."""
MLLM_FOLDER = "squeeze-miniature-mllm"
DLA_FILE = "squeeze_miniature_dla.safetensors"
DIFFUSION_FILE = "squeeze_miniature_dit.safetensors"
VAE_FILE = "squeeze_miniature_vae.safetensors"


@dataclass(frozen=True)
class VAESizes:
    """A Qwen-Image (Wan 2.1) VAE, narrow: 8x spatial compression to 16 channels. Only the base width may
    differ from Qwen-Image's own: ComfyUI's VAELoader reads it from the weights and fixes the rest."""

    base_dim: int = 8
    z_dim: int = 16
    dim_mult: tuple[int, ...] = (1, 2, 4, 4)
    num_res_blocks: int = 2
    attn_scales: tuple[float, ...] = ()
    temperal_downsample: tuple[bool, ...] = (False, True, True)

    def kwargs(self) -> dict:
        return {name: list(value) if isinstance(value, tuple) else value for name, value in self.__dict__.items()}


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


@dataclass(frozen=True)
class MiniatureFiles:
    """Where the miniature's files live, in ComfyUI's model folder names."""

    root: str
    mllm: str = field(init=False)
    dla: str = field(init=False)
    diffusion: str = field(init=False)
    vae: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "mllm", os.path.join(self.root, "mllm", MLLM_FOLDER))
        object.__setattr__(self, "dla", os.path.join(self.root, "squeeze_dla", DLA_FILE))
        object.__setattr__(self, "diffusion", os.path.join(self.root, "diffusion_models", DIFFUSION_FILE))
        object.__setattr__(self, "vae", os.path.join(self.root, "vae", VAE_FILE))

    @property
    def exists(self) -> bool:
        return all(os.path.exists(path) for path in (self.mllm, self.dla, self.diffusion, self.vae))


SHIPPED = MiniatureFiles(os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights"))
"""The trained miniature that comes with the pack (what the README's main command runs)."""
