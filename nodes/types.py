"""The pack's own socket types, defined once. Everything leaving the pack for other nodes is stock."""

from comfy_api.latest import io

MLLM = io.Custom("SQUEEZE_MLLM")
"""A loaded joint encoder (``nodes.models.LoadedMLLM``)."""

FEATURES = io.Custom("SQUEEZE_FEATURES")
"""``squeeze_core.MLLMFeatures``: every captured MLLM layer with per-token roles."""

DLA = io.Custom("SQUEEZE_DLA")
"""A loaded ``squeeze_core.DualLayerAggregator`` (``nodes.models.LoadedDLA``)."""
