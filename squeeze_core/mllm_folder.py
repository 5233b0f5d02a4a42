"""What a model folder (an MLLM's, a scoring model's) must hold before transformers is let near it: config.json
and safetensors weights."""

from __future__ import annotations

import json
import os

from .errors import ModelFolderError


def read_model_type(folder: str | os.PathLike, kind: str = "MLLM", models_folder: str = "models/mllm") -> str:
    """The ``model_type`` of a model folder, after checking it can be loaded safely."""
    folder = os.fspath(folder)
    config_path = os.path.join(folder, "config.json")
    if not os.path.isdir(folder):
        raise ModelFolderError(f"no {kind} folder named {os.path.basename(folder)}: put a Hugging Face model folder "
                               f"in {models_folder}")
    if not os.path.isfile(config_path):
        raise ModelFolderError(
            f"{os.path.basename(folder)} has no config.json: a model folder holds the files of a Hugging Face "
            f"model (config.json, *.safetensors, tokenizer and processor files)"
        )
    if not any(name.endswith(".safetensors") for name in os.listdir(folder)):
        raise ModelFolderError(
            f"{os.path.basename(folder)} has no .safetensors weights; only safetensors are loaded (never pickled "
            f".bin files): convert the weights to safetensors"
        )
    try:
        with open(config_path, encoding="utf-8") as handle:
            return str(json.load(handle).get("model_type", ""))
    except (OSError, json.JSONDecodeError) as error:
        raise ModelFolderError(f"{os.path.basename(folder)}/config.json is not valid JSON ({error}): copy the model "
                               f"folder again") from error
