"""Continuous stream weights through a real ComfyUI: 1 is stock, 0 is sampling without those tokens, and
weights in between land strictly between; two references are weighted independently."""

from __future__ import annotations

import pytest
from tests.harness.graphs import add_sampler, multi_stage, tiny_pipeline, write_reference
from tests.harness.weight_checks import (
    WEIGHT_RULE, add_weight_samplers, assert_references_independent, gap, run_latents,
)


def _always(**inputs) -> dict:
    return multi_stage("always", **inputs)


@pytest.fixture(scope="module")
def single_reference(comfy_server):
    reference = write_reference(comfy_server.base, "weights_subject.png")
    graph = tiny_pipeline(reference, seed=5, steps=6)
    graph["no_image_tokens"] = {"class_type": "SqueezeTestDropImageTokens",
                                "inputs": {"conditioning": ["aggregate", 0]}}
    graph["identity_no_image_tokens"] = {"class_type": "SqueezeVAEIdentityEncode", "inputs": {
        **graph["identity"]["inputs"], "conditioning": ["no_image_tokens", 0]}}
    graph["negative_no_image_tokens"] = {"class_type": "ConditioningZeroOut",
                                         "inputs": {"conditioning": ["no_image_tokens", 0]}}
    add_weight_samplers(graph)
    add_sampler(graph, "without_references", positive=["aggregate", 0])
    add_sampler(graph, "without_image_tokens", positive=["identity_no_image_tokens", 0],
                negative=["negative_no_image_tokens", 0])
    return run_latents(comfy_server, graph)


@pytest.mark.parametrize("check", WEIGHT_RULE)
def test_weights_follow_the_rule(single_reference, check):
    WEIGHT_RULE[check](single_reference)


@pytest.fixture(scope="module")
def two_references(comfy_server):
    first = write_reference(comfy_server.base, "weights_first.png", colour=(220, 30, 30))
    second = write_reference(comfy_server.base, "weights_second.png", size=(64, 96), colour=(30, 60, 220))
    graph = tiny_pipeline(first, seed=9, steps=6)
    graph["second"] = {"class_type": "LoadImage", "inputs": {"image": second}}
    graph["encode"]["inputs"]["image2"] = ["second", 0]
    base = graph["identity"]["inputs"]
    for name, inputs in {
        "first_only": {"image2": None}, "second_only": {"image1": ["second", 0], "image2": None},
        "strengths_1_0": {"image2": ["second", 0], "strength2": 0.0},
        "strengths_0_1": {"image2": ["second", 0], "strength1": 0.0},
        "strengths_1_half": {"image2": ["second", 0], "strength2": 0.5},
        "strengths_half_1": {"image2": ["second", 0], "strength1": 0.5},
        "both": {"image2": ["second", 0]},
    }.items():
        merged = {key: value for key, value in {**base, **inputs}.items() if value is not None}
        graph[f"identity_{name}"] = {"class_type": "SqueezeVAEIdentityEncode", "inputs": merged}
    for name in ("first_only", "second_only", "both"):
        add_sampler(graph, f"stock_{name}", positive=[f"identity_{name}", 0])
    for name in ("1_0", "0_1", "1_half", "half_1"):
        add_sampler(graph, name, _always(), positive=[f"identity_strengths_{name}", 0])
    return run_latents(comfy_server, graph)


def test_each_reference_follows_its_own_weight(two_references):
    assert_references_independent(two_references, "stock_first_only", "stock_second_only", "stock_both")


def test_semantic_zero_cuts_the_attention_mask_with_the_image_tokens(comfy_server):
    """A padded conditioning with an attention_mask (ComfyUI 0.33 passes it to Qwen-Image): cutting the image
    tokens cuts their mask entries too, so semantic 0 equals the stock run on the cut, padded conditioning."""
    reference = write_reference(comfy_server.base, "weights_padded.png")
    graph = tiny_pipeline(reference, seed=13, steps=4)
    graph["padded"] = {"class_type": "SqueezeTestPadConditioning", "inputs": {"conditioning": ["aggregate", 0],
                                                                              "tokens": 5}}
    graph["padded_cut"] = {"class_type": "SqueezeTestDropImageTokens", "inputs": {"conditioning": ["padded", 0]}}
    for name in ("padded", "padded_cut"):
        graph[f"identity_{name}"] = {"class_type": "SqueezeVAEIdentityEncode",
                                     "inputs": {**graph["identity"]["inputs"], "conditioning": [name, 0]}}
        graph[f"negative_{name}"] = {"class_type": "ConditioningZeroOut", "inputs": {"conditioning": [name, 0]}}
    add_sampler(graph, "semantic_0", _always(semantic_strength=0.0), positive=["identity_padded", 0],
                negative=["negative_padded", 0])
    add_sampler(graph, "cut", positive=["identity_padded_cut", 0], negative=["negative_padded_cut", 0])
    add_sampler(graph, "padded", positive=["identity_padded", 0], negative=["negative_padded", 0])
    latents = run_latents(comfy_server, graph)
    assert gap(latents["semantic_0"], latents["cut"]) <= 1e-5
    assert gap(latents["semantic_0"], latents["padded"]) > 1e-3
