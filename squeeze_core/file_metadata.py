"""The config a pack file carries in its safetensors metadata, read without loading its weights."""

from __future__ import annotations

import os

from safetensors import SafetensorError, safe_open

from .errors import SqueezeError


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
