"""Diffusion model files of the pack's own models (the trained miniature): weights in the key layout that
diffusers and ComfyUI share for Qwen-Image, with the architecture's sizes in the safetensors metadata,
so a loader rebuilds the model at any width instead of guessing it from a few keys."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from typing import Mapping

import torch
from safetensors.torch import save_file

from .errors import ModelFileError
from .file_metadata import read_config_text

CONFIG_KEY = "squeeze_diffusion_config"
ARCHITECTURES = ("qwen_image",)


@dataclass(frozen=True)
class DiffusionModelConfig:
    """The sizes of a Qwen-Image-architecture transformer (the defaults are Qwen-Image's own)."""

    architecture: str = "qwen_image"
    patch_size: int = 2
    in_channels: int = 64
    out_channels: int = 16
    num_layers: int = 60
    attention_head_dim: int = 128
    num_attention_heads: int = 24
    joint_attention_dim: int = 3584
    axes_dims_rope: tuple[int, int, int] = (16, 56, 56)

    def __post_init__(self) -> None:
        object.__setattr__(self, "axes_dims_rope", tuple(int(d) for d in self.axes_dims_rope))
        if self.architecture not in ARCHITECTURES:
            raise ModelFileError(f"unknown architecture {self.architecture!r}; this version reads {ARCHITECTURES}")
        if sum(self.axes_dims_rope) != self.attention_head_dim:
            raise ModelFileError(f"axes_dims_rope {self.axes_dims_rope} must add up to attention_head_dim "
                                 f"{self.attention_head_dim}")

    @classmethod
    def from_diffusers(cls, config: Mapping) -> DiffusionModelConfig:
        """From a diffusers ``QwenImageTransformer2DModel.config``."""
        return cls(**{name: config[name] for name in cls.__dataclass_fields__ if name != "architecture"})

    def model_kwargs(self) -> dict:
        """The constructor arguments shared by diffusers' and ComfyUI's Qwen-Image transformer."""
        fields = asdict(self)
        fields.pop("architecture")
        return fields

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def save_diffusion_model(tensors: Mapping[str, torch.Tensor], config: DiffusionModelConfig,
                         path: str | os.PathLike) -> None:
    save_file({name: value.detach().contiguous().cpu() for name, value in tensors.items()}, os.fspath(path),
              metadata={CONFIG_KEY: config.to_json(), "format": "pt"})


def read_diffusion_model_config(path: str | os.PathLike) -> DiffusionModelConfig:
    text = read_config_text(path, CONFIG_KEY, "diffusion model", "models/diffusion_models", ModelFileError,
                            "load it with the stock Load Diffusion Model node instead")
    try:
        return DiffusionModelConfig(**json.loads(text))
    except (TypeError, ValueError) as error:
        raise ModelFileError(f"{os.path.basename(os.fspath(path))} has an unreadable model config: {error}") from error


def check_weights(expected: set[str], found: set[str], name: str) -> None:
    """Refuse weights that do not fill exactly the model their config describes."""
    missing, unexpected = sorted(expected - found), sorted(found - expected)
    if missing or unexpected:
        raise ModelFileError(
            f"{name} does not hold the weights its config describes: missing {missing[:5]}"
            f"{' ...' if len(missing) > 5 else ''}, unexpected {unexpected[:5]}{' ...' if len(unexpected) > 5 else ''}; "
            f"re-export it with save_diffusion_model"
        )
