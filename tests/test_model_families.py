"""Every reference-latent family artists edit with (Qwen-Image-Edit 2509 and 2511, FLUX.1 Kontext, FLUX.2, Krea 2),
built tiny with the running ComfyUI's own classes, in a real server: the stage weights follow the one rule on
each. References come from chained stock ReferenceLatent nodes, weighted by Squeeze Reference Strengths; the
context is the tiny MLLM's joint encoding, so the MLLM image tokens are there to weight too."""

from __future__ import annotations

import pytest
import torch

from tests.harness.graphs import add_sampler, family_graph, multi_stage, write_reference
from tests.harness.weight_checks import (
    WEIGHT_RULE, add_weight_samplers, assert_references_independent, gap, run_latents,
)

FAMILIES = ("qwen_image_edit_2509", "qwen_image_edit_2511", "flux_kontext", "flux2", "krea2")
METHOD = {"krea2": "index"}
"""Krea 2 uses its references only when a reference method is set (as its edit workflows do)."""


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
    add_weight_samplers(graph)
    add_sampler(graph, "without_references", positive=["refs_0", 0])
    add_sampler(graph, "without_image_tokens", positive=["cut_1", 0], negative=["negative_cut", 0])
    add_sampler(graph, "paper", multi_stage("paper"))
    add_sampler(graph, "semantic_first", multi_stage("semantic_first"))
    graph["fold"] = {"class_type": "SqueezeTestKeyWeightMethod", "inputs": {"model": ["model", 0], "method": "fold"}}
    for stream in ("identity", "semantic"):
        add_sampler(graph, f"fold_{stream}_half", multi_stage("always", **{f"{stream}_strength": 0.5}),
                    model=["fold", 0])
    for name in ("1", "2", "12"):
        add_sampler(graph, f"stock_{name}", positive=[f"refs_{name}", 0])
    for name, first, second in (("1_0", 1.0, 0.0), ("0_1", 0.0, 1.0), ("1_half", 1.0, 0.5), ("half_1", 0.5, 1.0)):
        add_sampler(graph, name, multi_stage("always"), positive=_strengths(graph, f"strengths_{name}", first, second))
    return run_latents(comfy_server, graph)


@pytest.mark.parametrize("check", WEIGHT_RULE)
def test_weights_follow_the_rule(family_latents, check):
    WEIGHT_RULE[check](family_latents)


@pytest.mark.parametrize("stream", ["identity", "semantic"])
def test_the_fold_gpus_use_gives_what_the_mask_gives(family_latents, stream):
    assert gap(family_latents[f"fold_{stream}_half"], family_latents[f"{stream}_half"]) <= 1e-4


def test_two_references_are_weighted_independently(family_latents):
    assert_references_independent(family_latents, "stock_1", "stock_2", "stock_12")


def test_presets_run_and_change_the_result(family_latents):
    for preset in ("paper", "semantic_first"):
        assert torch.isfinite(family_latents[preset]).all()
        assert gap(family_latents[preset], family_latents["stock"]) > 1e-3
