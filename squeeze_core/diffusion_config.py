"""The sizes of a Qwen-Image-architecture transformer: what the pack's diffusion model files record, so a
loader rebuilds the model at any width instead of guessing it from a few keys."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Mapping

from .errors import ModelFileError

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
