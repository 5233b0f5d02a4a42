"""A diffusers model folder (a repository's ``transformer/`` or ``vae/``) read as the class its config names, when
that class is one the pack takes there: safetensors only, local files only."""

from __future__ import annotations

import json
import os
from collections.abc import Collection

import torch

from ..errors import ModelFileError


def load_diffusers_folder(folder: str | os.PathLike, classes: Collection[str]) -> torch.nn.Module:
    import diffusers

    name = _class_name(folder)
    if name not in classes:
        raise ModelFileError(f"{os.path.basename(os.path.normpath(folder))} holds a {name}; this pack reads "
                             f"{sorted(classes)} there")
    return getattr(diffusers, name).from_pretrained(os.fspath(folder), use_safetensors=True, local_files_only=True)


def _class_name(folder: str | os.PathLike) -> str:
    path = os.path.join(folder, "config.json")
    try:
        with open(path, encoding="utf-8") as handle:
            return str(json.load(handle).get("_class_name", "model with no _class_name"))
    except (OSError, ValueError) as error:
        raise ModelFileError(f"{os.fspath(folder)} is not a diffusers model folder: {path} is unreadable "
                             f"({error})") from error
