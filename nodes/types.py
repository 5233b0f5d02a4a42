"""The pack's own socket types and the conditioning keys other nodes read, defined once. Everything leaving the
pack for other nodes is stock."""

from comfy_api.latest import io

MLLM = io.Custom("SQUEEZE_MLLM")
"""A loaded joint encoder (``nodes.engine.models.LoadedMLLM``)."""

FEATURES = io.Custom("SQUEEZE_FEATURES")
"""``squeeze_core.MLLMFeatures``: every captured MLLM layer with per-token roles."""

SUBJECT = io.Custom("SQUEEZE_SUBJECT")
"""``squeeze_core.Subject``: pictures encoded once (their MLLM prefix and VAE latents), reused by any instruction."""

DLA = io.Custom("SQUEEZE_DLA")
"""A loaded ``squeeze_core.DualLayerAggregator`` (``nodes.engine.models.LoadedDLA``)."""

SCORER = io.Custom("SQUEEZE_SCORER")
"""A loaded ``squeeze_core.scoring.SubjectScorer`` (``nodes.engine.models.LoadedScorer``)."""

ROLES_KEY = "squeeze_token_roles"
"""Conditioning key: per-token roles of the context, so the stage sampler finds the MLLM image tokens."""

REFERENCE_STRENGTHS_KEY = "squeeze_reference_strengths"
"""Conditioning key: one identity strength per entry of reference_latents (missing entries count as 1)."""

REGIONS_KEY = "squeeze_reference_regions"
"""Conditioning key: one ``squeeze_core.region_binding.Region`` or None per entry of reference_latents (missing
entries have no region)."""
