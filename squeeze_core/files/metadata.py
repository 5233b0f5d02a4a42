"""The config a pack file carries in its safetensors metadata: written beside the weights, read without
loading them."""

from __future__ import annotations

import os
from typing import Mapping

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from ..errors import ModelFileError, SqueezeError


def save_with_config(tensors: Mapping[str, torch.Tensor], path: str | os.PathLike, key: str, config_text: str) -> None:
    """Write ``tensors`` (moved to the CPU, made contiguous) with ``config_text`` under the metadata ``key``."""
    save_file({name: value.detach().contiguous().cpu() for name, value in tensors.items()}, os.fspath(path),
              metadata={key: config_text, "format": "pt"})


def read_config_text(path: str | os.PathLike, key: str, kind: str, folder: str, error: type[SqueezeError],
                     foreign_hint: str) -> str:
    """The metadata entry ``key`` of a safetensors file, or ``error`` saying what the file is not and what to do."""
    path = os.fspath(path)
    name = os.path.basename(path)
    if not os.path.isfile(path):
        raise error(f"no {kind} file named {name}: put the .safetensors file in {folder}")
    try:
        with safe_open(path, framework="pt") as handle:
            metadata = handle.metadata() or {}
    except (SafetensorError, OSError, ValueError) as problem:
        raise error(f"{name} is not a readable safetensors file ({problem}); re-download or re-export it") from problem
    if key not in metadata:
        raise error(f"{name} is a safetensors file but not a Squeeze {kind} (no '{key}' metadata); {foreign_hint}")
    return metadata[key]


def check_weights(expected: set[str], found: set[str], name: str, saver: str) -> None:
    """Refuse weights that do not fill exactly the model their config describes."""
    missing, unexpected = sorted(expected - found), sorted(found - expected)
    if missing or unexpected:
        raise ModelFileError(
            f"{name} does not hold the weights its config describes: missing {missing[:5]}"
            f"{' ...' if len(missing) > 5 else ''}, unexpected {unexpected[:5]}{' ...' if len(unexpected) > 5 else ''}; "
            f"re-export it with {saver}"
        )
