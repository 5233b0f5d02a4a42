"""LoRA files for the diffusion transformer, in the key layout that ComfyUI's LoRA loader and diffusers'
Qwen-Image LoRA loader both read: ``transformer.<module>.lora_A.weight`` [rank, in] and ``.lora_B.weight``
[out, rank]. The recipe folds its scale into B, so the file needs no alpha and reads at strength 1 everywhere;
``load_lora`` also reads other trainers' files (``diffusion_model.`` or no prefix, an optional ``.alpha``)."""

from __future__ import annotations

import json
import os
from typing import Mapping

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from ..errors import ModelFileError
from .metadata import save_with_config

CONFIG_KEY = "squeeze_lora"
PREFIX = "transformer."
FOREIGN_PREFIXES = ("transformer.", "diffusion_model.", "")
DOWN, UP, ALPHA = ".lora_A.weight", ".lora_B.weight", ".alpha"

LoRAPairs = dict[str, tuple[torch.Tensor, torch.Tensor]]
"""Module name inside the transformer -> (down [rank, in], up [out, rank]), scale folded into up."""


def save_lora(pairs: Mapping[str, tuple[torch.Tensor, torch.Tensor]], path: str | os.PathLike, config: dict) -> None:
    tensors = {}
    for module, (down, up) in pairs.items():
        tensors[f"{PREFIX}{module}{DOWN}"] = down
        tensors[f"{PREFIX}{module}{UP}"] = up
    save_with_config(tensors, path, CONFIG_KEY, json.dumps(config, sort_keys=True))


def _module_name(key: str, suffix: str) -> str:
    name = key[:-len(suffix)]
    for prefix in FOREIGN_PREFIXES:
        if prefix and name.startswith(prefix):
            return name[len(prefix):]
    return name


def load_lora(path: str | os.PathLike) -> LoRAPairs:
    """Every (down, up) pair of a LoRA file, an ``alpha`` folded in as alpha / rank."""
    name = os.path.basename(os.fspath(path))
    if not os.path.isfile(path):
        raise ModelFileError(f"no LoRA file named {name}: put the .safetensors file in models/loras")
    try:
        tensors = load_file(os.fspath(path))
    except (SafetensorError, OSError, ValueError) as error:
        raise ModelFileError(f"{name} is not a readable safetensors file ({error}); copy it again") from error
    pairs: LoRAPairs = {}
    for key, down in tensors.items():
        if not key.endswith(DOWN):
            continue
        stem = key[:-len(DOWN)]
        up = tensors.get(stem + UP)
        if up is None or up.shape[1] != down.shape[0]:
            raise ModelFileError(f"{name}: {key} has no matching {stem + UP} of rank {down.shape[0]}; the file is "
                                 f"not a LoRA in the lora_A/lora_B layout")
        alpha = tensors.get(stem + ALPHA)
        scale = 1.0 if alpha is None else float(alpha) / down.shape[0]
        pairs[_module_name(key, DOWN)] = (down.float(), up.float() * scale)
    if not pairs:
        raise ModelFileError(f"{name} holds no lora_A/lora_B weights; pick a LoRA file")
    return pairs


@torch.no_grad()
def merge_lora(transformer: torch.nn.Module, pairs: LoRAPairs, strength: float = 1.0) -> None:
    """Add strength * up @ down to each named linear weight of the transformer."""
    modules = dict(transformer.named_modules())
    missing = sorted(set(pairs) - set(modules))
    if missing:
        raise ModelFileError(f"the LoRA names modules this transformer does not have ({missing[:3]}); it was "
                             f"trained for another model")
    for module, (down, up) in pairs.items():
        weight = modules[module].weight
        if tuple(weight.shape) != (up.shape[0], down.shape[1]):
            raise ModelFileError(f"the LoRA's {module} is {up.shape[0]}x{down.shape[1]}, the transformer's "
                                 f"{tuple(weight.shape)}; it was trained for another width")
        weight.add_((strength * up @ down).to(weight.dtype))
