"""DLA files: safetensors weights with the DLAConfig in the file's metadata."""

from __future__ import annotations

import os

import torch
from safetensors.torch import load_file

from ..dla import DLAConfig, DualLayerAggregator
from ..errors import DLAFileError, DLAMismatchError
from .metadata import read_config_text, save_with_config

CONFIG_KEY = "squeeze_dla_config"


def save_dla(module: DualLayerAggregator, path: str | os.PathLike) -> None:
    save_with_config(module.state_dict(), path, CONFIG_KEY, module.config.to_json())


def read_dla_config(path: str | os.PathLike) -> DLAConfig:
    """The config stored in a DLA file, without loading its weights."""
    text = read_config_text(path, CONFIG_KEY, "DLA", "models/squeeze_dla", DLAFileError,
                            "pick a file saved by save_dla")
    try:
        return DLAConfig.from_json(text)
    except (TypeError, ValueError) as error:
        raise DLAFileError(f"{os.path.basename(os.fspath(path))} has an unreadable DLA config: {error}") from error


def load_dla(
    path: str | os.PathLike,
    *,
    mllm_hidden_size: int | None = None,
    mllm_num_layers: int | None = None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype | None = None,
) -> DualLayerAggregator:
    """Load a DLA file; when the MLLM's width or depth is given, a DLA made for another is refused."""
    config = read_dla_config(path)
    name = os.path.basename(os.fspath(path))
    if mllm_hidden_size is not None and mllm_hidden_size != config.mllm_hidden_size:
        raise DLAMismatchError(
            f"{name} was made for an MLLM of width {config.mllm_hidden_size}, but this MLLM has width "
            f"{mllm_hidden_size}; pick the DLA trained for this MLLM"
        )
    if mllm_num_layers is not None and mllm_num_layers != config.mllm_num_layers:
        raise DLAMismatchError(
            f"{name} was made for an MLLM with {config.mllm_num_layers} layers, but this MLLM has "
            f"{mllm_num_layers}; pick the DLA trained for this MLLM"
        )
    module = DualLayerAggregator(config)
    try:
        module.load_state_dict(load_file(os.fspath(path)), strict=True)
    except RuntimeError as error:
        raise DLAFileError(f"{name} does not hold the weights its config describes: {error}") from error
    return module.to(device=device, dtype=dtype)
