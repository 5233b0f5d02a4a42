"""The sizes of a diffusion transformer the pack trains and loads (Qwen-Image's or FLUX.1's architecture): what
the pack's diffusion model files record, so a loader rebuilds the model at any width instead of guessing it
from a few keys."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Mapping, Union

from .errors import ModelFileError


class _Sizes:
    """What both architectures' configs share: the constructor arguments of the diffusers class, and the rule that
    the rotary axes fill a head."""

    architecture: str
    attention_head_dim: int
    axes_dims_rope: tuple[int, int, int]

    def _check(self) -> None:
        object.__setattr__(self, "axes_dims_rope", tuple(int(d) for d in self.axes_dims_rope))
        if sum(self.axes_dims_rope) != self.attention_head_dim:
            raise ModelFileError(f"axes_dims_rope {self.axes_dims_rope} must add up to attention_head_dim "
                                 f"{self.attention_head_dim}")

    @classmethod
    def from_diffusers(cls, config: Mapping):
        """From the diffusers model's ``config``."""
        return cls(**{name: config[name] for name in cls.__dataclass_fields__ if name != "architecture"})

    def model_kwargs(self) -> dict:
        """The diffusers constructor's arguments (ComfyUI's Qwen-Image class takes the same)."""
        fields = asdict(self)
        fields.pop("architecture")
        return fields

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


@dataclass(frozen=True)
class DiffusionModelConfig(_Sizes):
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
        self._check()


@dataclass(frozen=True)
class FluxModelConfig(_Sizes):
    """The sizes of a FLUX.1-architecture transformer (the defaults are FLUX.1-dev's and Kontext's own)."""

    architecture: str = "flux"
    patch_size: int = 1
    in_channels: int = 64
    out_channels: int | None = None
    num_layers: int = 19
    num_single_layers: int = 38
    attention_head_dim: int = 128
    num_attention_heads: int = 24
    joint_attention_dim: int = 4096
    pooled_projection_dim: int = 768
    guidance_embeds: bool = True
    axes_dims_rope: tuple[int, int, int] = (16, 56, 56)

    def __post_init__(self) -> None:
        self._check()
        if self.patch_size != 1 or self.in_channels % 4:
            raise ModelFileError(f"this pack reads FLUX transformers that take 2x2-packed latents (patch_size 1, "
                                 f"in_channels a multiple of 4), not patch_size {self.patch_size} with "
                                 f"{self.in_channels} channels")


TransformerConfig = Union[DiffusionModelConfig, FluxModelConfig]
ARCHITECTURES = {"qwen_image": DiffusionModelConfig, "flux": FluxModelConfig}
DIFFUSERS_CLASSES = {"QwenImageTransformer2DModel": DiffusionModelConfig, "FluxTransformer2DModel": FluxModelConfig}


def config_from_json(text: str) -> TransformerConfig:
    """The config a pack file's metadata holds."""
    fields = json.loads(text)
    architecture = fields.get("architecture")
    if architecture not in ARCHITECTURES:
        raise ModelFileError(f"unknown architecture {architecture!r}; this version reads {sorted(ARCHITECTURES)}")
    return ARCHITECTURES[architecture](**fields)


def config_of(transformer) -> TransformerConfig:
    """The sizes of a loaded diffusers transformer of either architecture."""
    name = type(transformer).__name__
    if name not in DIFFUSERS_CLASSES:
        raise ModelFileError(f"a {name} is not a transformer this pack trains; it reads {sorted(DIFFUSERS_CLASSES)}")
    return DIFFUSERS_CLASSES[name].from_diffusers(transformer.config)
