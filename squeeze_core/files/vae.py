"""VAE files of the pack's own Qwen-Image VAEs: Wan 2.1 key layout (ComfyUI's stock VAELoader reads it)
with the diffusers sizes in the safetensors metadata, so the standalone pipeline rebuilds the same VAE; and
diffusers VAE folders (Qwen-Image's, or FLUX.1's ``AutoencoderKL``)."""

from __future__ import annotations

import json
import os

import torch
from safetensors.torch import load_file

from ..errors import ModelFileError
from .diffusers_folder import load_diffusers_folder
from .metadata import check_weights, read_config_text, save_with_config
from .vae_layout import qwen_vae_to_wan_layout, wan_layout_to_qwen_vae

CONFIG_KEY = "squeeze_vae_config"
FOLDER_CLASSES = ("AutoencoderKLQwenImage", "AutoencoderKL")
SIZE_FIELDS = ("base_dim", "z_dim", "dim_mult", "num_res_blocks", "attn_scales", "temperal_downsample",
               "latents_mean", "latents_std")


def save_vae(vae: torch.nn.Module, path: str | os.PathLike) -> None:
    """Write a diffusers ``AutoencoderKLQwenImage`` in the Wan 2.1 layout, its sizes in the metadata."""
    sizes = {name: vae.config[name] for name in SIZE_FIELDS}
    tensors = qwen_vae_to_wan_layout(vae.state_dict(), sizes["num_res_blocks"])
    save_with_config(tensors, path, CONFIG_KEY, json.dumps(sizes, sort_keys=True))


def load_vae(path: str | os.PathLike):
    """The diffusers ``AutoencoderKLQwenImage`` a ``save_vae`` file holds, every weight checked; a folder is read
    as diffusers writes one (a Qwen-Image or FLUX.1 repository's ``vae/``), safetensors only."""
    from diffusers import AutoencoderKLQwenImage

    if os.path.isdir(path):
        return load_diffusers_folder(path, FOLDER_CLASSES).eval().requires_grad_(False)

    text = read_config_text(path, CONFIG_KEY, "VAE", "models/vae", ModelFileError,
                            "load it with the stock Load VAE node instead")
    name = os.path.basename(os.fspath(path))
    try:
        vae = AutoencoderKLQwenImage(**json.loads(text))
    except (TypeError, ValueError) as error:
        raise ModelFileError(f"{name} has an unreadable VAE config: {error}") from error
    expected = vae.state_dict()
    tensors = wan_layout_to_qwen_vae(load_file(os.fspath(path)), expected, vae.config.num_res_blocks)
    check_weights(set(expected), set(tensors), name, "save_vae")
    vae.load_state_dict(tensors, strict=True)
    return vae.eval().requires_grad_(False)
