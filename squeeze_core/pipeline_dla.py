"""The DLA as a diffusers model, so a pipeline folder saves and reloads it like its other parts
(``dla/config.json`` and ``dla/diffusion_pytorch_model.safetensors``). Kept apart from ``dla.py``: importing
diffusers' model classes costs seconds that ComfyUI's start-up should not pay."""

from __future__ import annotations

from dataclasses import asdict

from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config

from .dla import AggregatedContext, DLAConfig, DualLayerAggregator
from .features import MLLMFeatures

__all__ = ["ModelMixin", "PipelineDLA"]
"""``ModelMixin`` is named here on purpose: diffusers finds a custom component's load method by looking up its
base classes in the component's own module."""


class PipelineDLA(ModelMixin, ConfigMixin):
    @register_to_config
    def __init__(self, dla_config: dict):
        super().__init__()
        self.aggregator = DualLayerAggregator(DLAConfig(**dla_config))

    @classmethod
    def wrap(cls, aggregator: DualLayerAggregator) -> PipelineDLA:
        wrapped = cls(asdict(aggregator.config))
        wrapped.aggregator = aggregator
        return wrapped.train(aggregator.training)

    def forward(self, features: MLLMFeatures) -> AggregatedContext:
        return self.aggregator(features)
