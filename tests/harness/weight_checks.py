"""What the stream-weight tests assert on sampled latents, and the sampler set they compare."""

from __future__ import annotations

import torch

from .graphs import add_sampler, multi_stage
from tools.comfyui_server import ComfyServer, execution_error, saved_latents


def run_latents(server: ComfyServer, graph: dict) -> dict[str, torch.Tensor]:
    """Run a graph; the latent each SaveLatent node ``save_<name>`` wrote, by ``<name>``."""
    entry = server.run(graph)
    assert entry["status"]["status_str"] == "success", execution_error(entry) or server.log_tail()
    return {node_id.removeprefix("save_"): latent for node_id, latent in saved_latents(server, entry).items()}


def gap(a: torch.Tensor, b: torch.Tensor) -> float:
    """Largest difference, relative to the latents' scale where it exceeds 1 (tiny random models can give
    latents near 20)."""
    return (a - b).abs().max().item() / max(1.0, b.abs().max().item())


def assert_strictly_between(middle: torch.Tensor, low: torch.Tensor, high: torch.Tensor) -> None:
    span = (high - low).abs().mean().item()
    to_low, to_high = (middle - low).abs().mean().item(), (middle - high).abs().mean().item()
    assert span > 1e-3, "the two ends must differ for the test to mean anything"
    assert 0.05 * span < to_low < span and 0.05 * span < to_high < span, (to_low, to_high, span)


def add_weight_samplers(graph: dict) -> dict:
    """Beside the graph's stock sampler: every weight 1, each stream at 0 and at 0.5."""
    add_sampler(graph, "stock")
    add_sampler(graph, "ones", multi_stage("custom", semantic_breakpoints="0:1", identity_breakpoints="0:1"))
    for stream in ("identity", "semantic"):
        add_sampler(graph, f"{stream}_0", multi_stage("always", **{f"{stream}_strength": 0.0}))
        add_sampler(graph, f"{stream}_half", multi_stage("always", **{f"{stream}_strength": 0.5}))
    return graph


def _ones_are_stock(latents: dict) -> None:
    assert gap(latents["ones"], latents["stock"]) <= 1e-5


def _zero_drops(stream_tokens: str, stream: str):
    def check(latents: dict) -> None:
        assert gap(latents[f"{stream}_0"], latents[f"without_{stream_tokens}"]) <= 1e-5
        assert gap(latents[f"{stream}_0"], latents["stock"]) > 1e-3
    return check


def _half_between(stream: str):
    def check(latents: dict) -> None:
        assert_strictly_between(latents[f"{stream}_half"], latents[f"{stream}_0"], latents["stock"])
    return check


WEIGHT_RULE = {
    "weight 1 everywhere is the stock KSampler": _ones_are_stock,
    "identity 0 is stock without the references": _zero_drops("references", "identity"),
    "semantic 0 is stock without the MLLM image tokens": _zero_drops("image_tokens", "semantic"),
    "identity 0.5 lies strictly between": _half_between("identity"),
    "semantic 0.5 lies strictly between": _half_between("semantic"),
}
"""The rule's checks, on the latents of add_weight_samplers plus the graph's own ``without_references`` and
``without_image_tokens`` samplers (stock on the conditioning without those tokens)."""


def assert_references_independent(latents: dict, first_only: str, second_only: str, both: str) -> None:
    """Strengths (1, 0) and (0, 1) equal stock with one reference; (1, 0.5) and (0.5, 1) lie strictly between."""
    assert gap(latents["1_0"], latents[first_only]) <= 1e-5
    assert gap(latents["0_1"], latents[second_only]) <= 1e-5
    assert_strictly_between(latents["1_half"], latents["1_0"], latents[both])
    assert_strictly_between(latents["half_1"], latents["0_1"], latents[both])
    assert gap(latents["1_half"], latents["half_1"]) > 1e-3
