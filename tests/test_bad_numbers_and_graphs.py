"""Bad-input corpus, numbers, lists and graphs: NaN and infinity in every kind of float input, values out of
range, reversed or garbled schedules, list values outside their lists (also where the node validates the input
itself), a stock conditioning, a latent for another model, the schedule preview at the edges of its step range
(tests/harness/bad_input.py)."""

from __future__ import annotations

import math

import pytest

from tests.harness.bad_input import Handled, Refused, check_case
from tests.harness.graphs import multi_stage, tiny_pipeline

SAMPLER = "Squeeze Multi-Stage KSampler"


def _sampler(reference: str, **inputs) -> dict:
    return tiny_pipeline(reference, sampler=multi_stage(**inputs))


def _set(node: str, **inputs):
    def build(server, reference):
        graph = tiny_pipeline(reference)
        graph[node]["inputs"].update(inputs)
        return graph
    return build


def _strengths(**inputs):
    def build(server, reference):
        graph = tiny_pipeline(reference)
        graph["strengths"] = {"class_type": "SqueezeReferenceStrengths",
                              "inputs": {"conditioning": ["identity", 0], **inputs}}
        graph["sampler"]["inputs"]["positive"] = ["strengths", 0]
        return graph
    return build


def _preview(steps: int):
    def build(server, reference):
        graph = tiny_pipeline(reference, steps=1)
        graph["preview"] = {"class_type": "SqueezeSchedulePreview",
                            "inputs": {"model": ["model", 0], "steps": steps, "scheduler": "simple", "denoise": 1.0,
                                       **multi_stage("semantic_first")["inputs"]}}
        graph["show"] = {"class_type": "PreviewImage", "inputs": {"images": ["preview", 0]}}
        return graph
    return build


def _foreign_latent(server, reference):
    graph = tiny_pipeline(reference, sampler=multi_stage())
    graph["latent"] = {"class_type": "SqueezeTestChannelsLatent", "inputs": {"channels": 4, "width": 64, "height": 64}}
    return graph


def _foreign_conditioning(server, reference):
    """The stock Qwen-Image-Edit encoder's conditioning (no MLLM token roles) into the stage sampler: the
    references are weighted, the semantic weight has no image tokens to act on."""
    graph = tiny_pipeline(reference, sampler=multi_stage("paper", semantic_strength=0.5, identity_strength=0.5))
    graph["model"]["inputs"]["context_dim"] = 64
    graph["clip"] = {"class_type": "SqueezeTestTinyQwenImageCLIP",
                     "inputs": {"hidden_size": 64, "num_layers": 1, "weight_seed": 0}}
    graph["stock"] = {"class_type": "TextEncodeQwenImageEditPlus",
                      "inputs": {"clip": ["clip", 0], "prompt": "put it small", "vae": ["vae", 0],
                                 "image1": ["image", 0]}}
    graph["negative"]["inputs"]["conditioning"] = ["stock", 0]
    graph["sampler"]["inputs"]["positive"] = ["stock", 0]
    return graph


def _finite(node: str, name: str) -> list[str]:
    return [node, f"'{name}'", "finite number"]


CASES = {
    "NaN reference strength": Refused(_set("identity", strength1=math.nan), "identity",
                                      _finite("Squeeze VAE Identity Encode", "strength1")),
    "infinite reference strength": Refused(_strengths(strength2=math.inf), "strengths",
                                           _finite("Squeeze Reference Strengths", "strength2")),
    "reference strength above 2": Refused(_strengths(strength1=3.0), "strengths",
                                          ["Squeeze Reference Strengths", "'strength1'", "above its maximum 2"]),
    "NaN identity strength": Refused(lambda s, r: _sampler(r, identity_strength=math.nan), "sampler",
                                     _finite(SAMPLER, "identity_strength")),
    "-infinite semantic strength": Refused(lambda s, r: _sampler(r, semantic_strength=-math.inf), "sampler",
                                           _finite(SAMPLER, "semantic_strength")),
    "infinite cfg": Refused(lambda s, r: tiny_pipeline(r, sampler={"class_type": "SqueezeMultiStageKSampler",
                                                                   "inputs": {**multi_stage()["inputs"],
                                                                              "cfg": math.inf}}),
                            "sampler", _finite(SAMPLER, "cfg")),
    "NaN switch": Refused(lambda s, r: _sampler(r, switch_1=math.nan), "sampler", _finite(SAMPLER, "switch_1")),
    "NaN denoise": Refused(lambda s, r: tiny_pipeline(r, sampler={"class_type": "SqueezeMultiStageKSampler",
                                                                  "inputs": {**multi_stage()["inputs"],
                                                                             "denoise": math.nan}}),
                           "sampler", _finite(SAMPLER, "denoise")),
    "reversed switches": Refused(lambda s, r: _sampler(r, switch_1=0.6, switch_2=0.2), "sampler",
                                 [SAMPLER, "must not come after"]),
    "garbled breakpoints": Refused(lambda s, r: _sampler(r, schedule="custom", semantic_breakpoints="a:b"),
                                   "sampler", [SAMPLER]),
    "schedule outside its list": Refused(lambda s, r: _sampler(r, schedule="fastest"), "sampler",
                                         [SAMPLER, "'schedule'", "not one of its choices"]),
    "dtype outside its list": Refused(_set("mllm", dtype="int4"), "mllm",
                                      ["Squeeze MLLM Loader", "'dtype'", "not one of its choices", "float32"]),
    "vision resolution NaN": Refused(_set("encode", vision_resolution=math.nan), "encode", []),
    "stock conditioning without MLLM roles": Handled(_foreign_conditioning),
    "latent for another model": Refused(_foreign_latent, "sampler", ["4 channels", "works on 16", "VAE Encode"]),
    "schedule preview at its maximum steps": Handled(_preview(2000)),
    "schedule preview at 131 steps": Handled(_preview(131)),
    "schedule preview at 300 steps": Handled(_preview(300)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_number_list_or_graph(comfy_server, case):
    check_case(comfy_server, case, CASES[case])
