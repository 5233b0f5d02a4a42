"""The frozen MLLM's joint encoding of a sample, computed once: with a cache folder, each (row, instruction kept
or dropped) is written as a feature file by the process that first reads it, and read back on every later epoch.
A cache belongs to one MLLM, layer set, vision resolution and manifest, and refuses any other."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import replace

from ..features import MLLMFeatures
from ..files.features import load_features, save_features
from ..joint_encoder import JointEncoder
from ..manifest import MANIFEST, dataset_root
from .settings import TrainingSettings, TrainingSettingsError

UNCONDITIONAL_INSTRUCTION = " "
"""What a dropped instruction becomes: the pipeline's default negative prompt, so guidance meets a trained case."""
KEY_FILE = "cache.json"


class SampleFeatures:
    def __init__(self, encoder: JointEncoder, settings: TrainingSettings, data: str, cache: str | None = None):
        self.encoder, self.settings, self.cache = encoder, settings, cache
        if cache is not None:
            self._check_key(cache, data)

    def _check_key(self, cache: str, data: str) -> None:
        """The cache names rows by line, so it belongs to one manifest as well as one MLLM and view."""
        key = {"mllm": self.encoder.source, "layers": list(self.encoder.resolve_layers(self.settings.layers)),
               "vision_resolution": self.settings.vision_resolution, "manifest": _manifest_digest(data)}
        path = os.path.join(cache, KEY_FILE)
        os.makedirs(cache, exist_ok=True)
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as handle:
                found = json.load(handle)
            changed = sorted(name for name in key if found.get(name) != key[name])
            if changed:
                raise TrainingSettingsError(f"the feature cache {cache} holds encodings made with another "
                                            f"{', '.join(changed)}; give another --feature-cache folder or delete "
                                            f"this one")
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


def _manifest_digest(data: str) -> str:
    digest = hashlib.sha256()
    with open(os.path.join(dataset_root(data), MANIFEST), "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
