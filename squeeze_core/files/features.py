"""MLLM feature files: one joint encoding (every captured layer, mask and roles) as safetensors tensors, what it
was captured from in the metadata. The DLA recipe caches a frozen MLLM's encodings in them."""

from __future__ import annotations

import json
import os

from safetensors.torch import load_file

from ..errors import ModelFileError
from ..features import MLLMFeatures
from .metadata import read_config_text, save_with_config

CONFIG_KEY = "squeeze_features"


def save_features(features: MLLMFeatures, path: str | os.PathLike) -> None:
    config = {"layer_indices": list(features.layer_indices), "num_model_layers": features.num_model_layers,
              "num_images": features.num_images, "source": features.source}
    save_with_config({"hidden_states": features.hidden_states, "attention_mask": features.attention_mask,
                      "roles": features.roles}, path, CONFIG_KEY, json.dumps(config))


def load_features(path: str | os.PathLike) -> MLLMFeatures:
    text = read_config_text(path, CONFIG_KEY, "feature", "the feature cache", ModelFileError,
                            "point the cache at a folder of the recipe's own")
    try:
        config = json.loads(text)
        tensors = load_file(os.fspath(path))
        return MLLMFeatures(tensors["hidden_states"], tensors["attention_mask"], tensors["roles"],
                            tuple(config["layer_indices"]), config["num_model_layers"], config["num_images"],
                            config["source"])
    except (KeyError, TypeError, ValueError) as error:
        raise ModelFileError(f"{os.path.basename(os.fspath(path))} is not a whole feature file ({error}); delete "
                             f"the cache folder and run again") from error
