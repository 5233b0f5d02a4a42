"""The frozen MLLM's joint encoding of a sample, computed once: with a cache folder, each (row, instruction kept
or dropped) is written as a feature file by the process that first reads it, and read back on every later epoch."""

from __future__ import annotations

import json
import os
from dataclasses import replace

import torch

from ..features import MLLMFeatures
from ..files.features import load_features, save_features
from ..joint_encoder import JointEncoder
from .settings import TrainingSettings, TrainingSettingsError

UNCONDITIONAL_INSTRUCTION = " "
"""What a dropped instruction becomes: the pipeline's default negative prompt, so guidance meets a trained case."""
KEY_FILE = "cache.json"


class SampleFeatures:
    def __init__(self, encoder: JointEncoder, settings: TrainingSettings, cache: str | None = None):
        self.encoder, self.settings, self.cache = encoder, settings, cache
        if cache is not None:
            self._check_key(cache)

    def _check_key(self, cache: str) -> None:
        key = {"mllm": self.encoder.source, "layers": list(self.encoder.resolve_layers(self.settings.layers)),
               "vision_resolution": self.settings.vision_resolution}
        path = os.path.join(cache, KEY_FILE)
        os.makedirs(cache, exist_ok=True)
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as handle:
                found = json.load(handle)
            if found != key:
                raise TrainingSettingsError(f"the feature cache {cache} holds encodings of {found}, not {key}; give "
                                            f"another --feature-cache folder or delete this one")
            return
        staging = f"{path}.{os.getpid()}"
        with open(staging, "w", encoding="utf-8") as handle:
            json.dump(key, handle)
        os.replace(staging, path)

    def __call__(self, sample: dict, drop_instruction: bool) -> MLLMFeatures:
        path = None
        if self.cache is not None:
            path = os.path.join(self.cache, f"line-{sample['line']}{'-unconditional' if drop_instruction else ''}"
                                            f".safetensors")
            if os.path.isfile(path):
                return trainable(load_features(path).to(self.encoder.device))
        instruction = UNCONDITIONAL_INSTRUCTION if drop_instruction else sample["instruction"]
        features = self.encoder.encode(instruction, [picture.permute(1, 2, 0) for picture in sample["references"]],
                                       layers=self.settings.layers,
                                       vision_pixel_budget=self.settings.vision_resolution**2)
        if path is not None:
            staging = f"{path}.{os.getpid()}"
            save_features(features, staging)
            os.replace(staging, path)
        return trainable(features)


def trainable(features: MLLMFeatures) -> MLLMFeatures:
    """A copy made outside inference mode, which autograd may save for the DLA's backward pass."""
    return replace(features, hidden_states=features.hidden_states.float().clone(),
                   attention_mask=features.attention_mask.clone(), roles=features.roles.clone())
