"""Diffusion model files of the pack's own models (the trained miniature, a fully trained transformer): weights
in diffusers' key layout (which ComfyUI shares for Qwen-Image and converts for FLUX.1), with the architecture
and its sizes in the safetensors metadata."""

from __future__ import annotations

import os
from typing import Mapping

import torch
from safetensors.torch import load_file

from ..denoiser import build_transformer
from ..diffusion_config import DIFFUSERS_CLASSES, TransformerConfig, config_from_json
from ..key_weighted_attention import install_key_weighting
from ..errors import ModelFileError
from .diffusers_folder import load_diffusers_folder
from .metadata import check_weights, read_config_text, save_with_config

CONFIG_KEY = "squeeze_diffusion_config"


def save_diffusion_model(tensors: Mapping[str, torch.Tensor], config: TransformerConfig,
                         path: str | os.PathLike) -> None:
    save_with_config(tensors, path, CONFIG_KEY, config.to_json())


def read_diffusion_model_config(path: str | os.PathLike) -> TransformerConfig:
    text = read_config_text(path, CONFIG_KEY, "diffusion model", "models/diffusion_models", ModelFileError,
                            "load it with the stock Load Diffusion Model node instead")
    try:
        return config_from_json(text)
    except (TypeError, ValueError) as error:
        raise ModelFileError(f"{os.path.basename(os.fspath(path))} has an unreadable model config: {error}") from error


def check_diffusion_weights(expected: set[str], found: set[str], name: str) -> None:
    check_weights(expected, found, name, "save_diffusion_model")


def load_diffusion_model(path: str | os.PathLike):
    """The diffusers transformer a ``save_diffusion_model`` file holds, every weight checked; a folder is read as
    diffusers writes one (a Qwen-Image or FLUX.1 repository's ``transformer/``), safetensors only."""
    if os.path.isdir(path):
        return _diffusers_folder(path)
    transformer = build_transformer(read_diffusion_model_config(path))
    tensors = load_file(os.fspath(path))
    check_diffusion_weights(set(transformer.state_dict()), set(tensors), os.path.basename(os.fspath(path)))
    transformer.load_state_dict(tensors, strict=True)
    return transformer.eval().requires_grad_(False)


def _diffusers_folder(folder: str | os.PathLike):
    transformer = load_diffusers_folder(folder, DIFFUSERS_CLASSES)
    install_key_weighting(transformer)
    return transformer.eval().requires_grad_(False)

