"""Qwen-Image VAE weights between diffusers' layout (what training uses) and the original Wan 2.1 layout that
ComfyUI's stock VAELoader reads, so a VAE trained here loads like qwen_image_vae.safetensors."""

from __future__ import annotations

import re
from typing import Iterable, Mapping

import torch

_RESNET_PARTS = {"norm1.gamma": "residual.0.gamma", "conv1.": "residual.2.", "norm2.gamma": "residual.3.gamma",
                 "conv2.": "residual.6.", "conv_shortcut.": "shortcut."}
_PLAIN = {"quant_conv.": "conv1.", "post_quant_conv.": "conv2."}
_SIDE_PARTS = {"conv_in.": "conv1.", "norm_out.": "head.0.", "conv_out.": "head.2."}


def _resnet(rest: str) -> str:
    for diffusers_name, wan_name in _RESNET_PARTS.items():
        if rest.startswith(diffusers_name):
            return wan_name + rest[len(diffusers_name):]
    return rest


def _rename(key: str, num_res_blocks: int) -> str:
    for diffusers_name, wan_name in _PLAIN.items():
        if key.startswith(diffusers_name):
            return wan_name + key[len(diffusers_name):]
    side, _, rest = key.partition(".")
    for diffusers_name, wan_name in _SIDE_PARTS.items():
        if rest.startswith(diffusers_name):
            return f"{side}.{wan_name}{rest[len(diffusers_name):]}"
    if match := re.fullmatch(r"mid_block\.resnets\.(\d)\.(.+)", rest):
        return f"{side}.middle.{2 * int(match[1])}.{_resnet(match[2])}"
    if match := re.fullmatch(r"mid_block\.attentions\.0\.(.+)", rest):
        return f"{side}.middle.1.{match[1]}"
    if match := re.fullmatch(r"down_blocks\.(\d+)\.(.+)", rest):
        return f"{side}.downsamples.{match[1]}.{_resnet(match[2])}"
    stride = num_res_blocks + 2
    if match := re.fullmatch(r"up_blocks\.(\d+)\.resnets\.(\d+)\.(.+)", rest):
        return f"{side}.upsamples.{int(match[1]) * stride + int(match[2])}.{_resnet(match[3])}"
    if match := re.fullmatch(r"up_blocks\.(\d+)\.upsamplers\.0\.(.+)", rest):
        return f"{side}.upsamples.{int(match[1]) * stride + num_res_blocks + 1}.{match[2]}"
    raise ValueError(f"no Wan 2.1 name for the Qwen-Image VAE weight {key!r}")


def qwen_vae_to_wan_layout(state_dict: Mapping[str, torch.Tensor], num_res_blocks: int) -> dict[str, torch.Tensor]:
    """Rename every weight of a diffusers ``AutoencoderKLQwenImage`` to ComfyUI's ``WanVAE`` names."""
    return {_rename(key, num_res_blocks): value for key, value in state_dict.items()}


def wan_layout_to_qwen_vae(state_dict: Mapping[str, torch.Tensor], diffusers_keys: Iterable[str],
                           num_res_blocks: int) -> dict[str, torch.Tensor]:
    """The inverse rename, for the weights of a diffusers model whose own keys are ``diffusers_keys``."""
    names = {_rename(key, num_res_blocks): key for key in diffusers_keys}
    unknown = sorted(set(state_dict) - set(names))
    if unknown:
        raise ValueError(f"Wan 2.1 VAE weights with no diffusers name: {unknown[:5]}")
    return {names[key]: value for key, value in state_dict.items()}
