"""Every reference-latent family artists edit with (Qwen-Image-Edit 2509 and 2511, FLUX.1 Kontext, FLUX.2, Krea 2),
built tiny with the running ComfyUI's own classes, in a real server: the stage weights follow the one rule on
each. References come from chained stock ReferenceLatent nodes, weighted by Squeeze Reference Strengths; the
context is the tiny MLLM's joint encoding, so the MLLM image tokens are there to weight too."""

from __future__ import annotations

import pytest
import torch

from tests.harness.graphs import add_sampler, family_graph, multi_stage, write_reference
from tests.harness.server import execution_error, saved_latents

FAMILIES = ("qwen_image_edit_2509", "qwen_image_edit_2511", "flux_kontext", "flux2", "krea2")
METHOD = {"krea2": "index"}
"""Krea 2 uses its references only when a reference method is set (as its edit workflows do)."""


def _gap(a: torch.Tensor, b: torch.Tensor) -> float:
    """Largest difference relative to the latents' scale (Krea 2's random tiny model gives values near 13)."""
    return (a - b).abs().max().item() / max(1.0, b.abs().max().item())


def _strictly_between(middle: torch.Tensor, low: torch.Tensor, high: torch.Tensor) -> None:
    span = (high - low).abs().mean().item()
    to_low, to_high = (middle - low).abs().mean().item(), (middle - high).abs().mean().item()
    assert span > 1e-3, "the two ends must differ for the test to mean anything"
    assert 0.05 * span < to_low < span and 0.05 * span < to_high < span, (to_low, to_high, span)


@pytest.fixture(scope="module")
def offered(comfy_server) -> set[str]:
    return set(comfy_server.get("/object_info/SqueezeTestTinyModel")["SqueezeTestTinyModel"]["input"]["required"]
               ["family"][0])


def _strengths(graph: dict, name: str, first: float, second: float) -> list:
    graph[name] = {"class_type": "SqueezeReferenceStrengths",
                   "inputs": {"conditioning": ["refs_12", 0], "strength1": first, "strength2": second}}
    return [name, 0]


@pytest.fixture(scope="module", params=FAMILIES)
def family_latents(request, comfy_server, comfyui_tree, offered):
    family = request.param
    if family not in offered:
        pytest.skip(f"ComfyUI {comfyui_tree.version} has no {family} (Krea 2 and references at timestep zero "
                    f"arrived after 0.3.75)")
    graph = family_graph(family, write_reference(comfy_server.base, "family_subject.png"), method=METHOD.get(family))
    add_sampler(graph, "stock")
    add_sampler(graph, "ones", multi_stage("custom", semantic_breakpoints="0:1", identity_breakpoints="0:1"))
    add_sampler(graph, "identity_0", multi_stage("always", identity_strength=0.0))
    add_sampler(graph, "identity_half", multi_stage("always", identity_strength=0.5))
    add_sampler(graph, "without_references", positive=["refs_0", 0])
    add_sampler(graph, "semantic_0", multi_stage("always", semantic_strength=0.0))
    add_sampler(graph, "semantic_half", multi_stage("always", semantic_strength=0.5))
    add_sampler(graph, "without_image_tokens", positive=["cut_1", 0], negative=["negative_cut", 0])
    add_sampler(graph, "paper", multi_stage("paper"))
    add_sampler(graph, "semantic_first", multi_stage("semantic_first"))
    for name in ("1", "2", "12"):
        add_sampler(graph, f"stock_{name}", positive=[f"refs_{name}", 0])
    for name, first, second in (("1_0", 1.0, 0.0), ("0_1", 0.0, 1.0), ("1_half", 1.0, 0.5), ("half_1", 0.5, 1.0)):
        add_sampler(graph, name, multi_stage("always"), positive=_strengths(graph, f"strengths_{name}", first, second))
    entry = comfy_server.run(graph)
    assert entry["status"]["status_str"] == "success", execution_error(entry) or comfy_server.log_tail()
    return {node_id.removeprefix("save_"): latent for node_id, latent in saved_latents(comfy_server, entry).items()}


def test_weight_one_everywhere_is_the_stock_ksampler(family_latents):
    assert _gap(family_latents["ones"], family_latents["stock"]) <= 1e-5


def test_identity_zero_is_stock_without_the_reference(family_latents):
    assert _gap(family_latents["identity_0"], family_latents["without_references"]) <= 1e-5
    assert _gap(family_latents["identity_0"], family_latents["stock"]) > 1e-3


def test_semantic_zero_is_stock_without_the_image_tokens(family_latents):
    assert _gap(family_latents["semantic_0"], family_latents["without_image_tokens"]) <= 1e-5
    assert _gap(family_latents["semantic_0"], family_latents["stock"]) > 1e-3


@pytest.mark.parametrize("stream", ["identity", "semantic"])
def test_half_weight_lies_strictly_between(family_latents, stream):
    _strictly_between(family_latents[f"{stream}_half"], family_latents[f"{stream}_0"], family_latents["stock"])


def test_two_references_are_weighted_independently(family_latents):
    latents = family_latents
    assert _gap(latents["1_0"], latents["stock_1"]) <= 1e-5
    assert _gap(latents["0_1"], latents["stock_2"]) <= 1e-5
    _strictly_between(latents["1_half"], latents["1_0"], latents["stock_12"])
    _strictly_between(latents["half_1"], latents["0_1"], latents["stock_12"])


def test_presets_run_and_change_the_result(family_latents):
    for preset in ("paper", "semantic_first"):
        assert torch.isfinite(family_latents[preset]).all()
        assert _gap(family_latents[preset], family_latents["stock"]) > 1e-3
