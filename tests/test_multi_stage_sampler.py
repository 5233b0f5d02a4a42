"""The multi-stage sampler inside a real ComfyUI, against the stock KSampler, through /prompt."""

import json
import os

import pytest
import torch

from tests.harness.graphs import multi_stage, tiny_pipeline, write_reference
from tools.comfyui_server import execution_error, saved_latents


@pytest.fixture(scope="module")
def reference(comfy_server):
    return write_reference(comfy_server.base, "subject.png")


def _final_latent(server, graph) -> torch.Tensor:
    entry = server.run(graph)
    assert entry["status"]["status_str"] == "success", execution_error(entry) or server.log_tail()
    return saved_latents(server, entry)["save"]


def test_always_equals_the_stock_ksampler(comfy_server, reference):
    stock = _final_latent(comfy_server, tiny_pipeline(reference, seed=7))
    ours = _final_latent(comfy_server, tiny_pipeline(reference, seed=7, sampler=multi_stage("always")))
    assert stock.shape == ours.shape
    assert (stock - ours).abs().max().item() <= 1e-5


def test_paper_phases_send_exactly_the_named_tokens(comfy_server, reference):
    log = os.path.join(comfy_server.base, "output", "paper_calls.jsonl")
    if os.path.exists(log):
        os.remove(log)
    _final_latent(comfy_server, tiny_pipeline(reference, seed=3, steps=20, record="paper_calls.jsonl",
                                              sampler=multi_stage("paper")))
    with open(log, encoding="utf-8") as handle:
        calls = [json.loads(line) for line in handle]
    positive = [c for c in calls if c["references"] or c["context_tokens"] > 0]
    full = max(c["context_tokens"] for c in positive)
    phases = {"mllm_only": [], "joint": [], "vae_focused": []}
    for call in calls:
        progress = 1.0 - call["sigma"]
        phase = "mllm_only" if progress < 0.05 else "joint" if progress < 0.15 else "vae_focused"
        phases[phase].append(call)
    assert all(phases.values()), {k: len(v) for k, v in phases.items()}
    for call in phases["mllm_only"]:
        assert call["references"] == 0
    for call in phases["joint"]:
        assert call["references"] in (0, 1)
    joint_positive = [c for c in phases["joint"] if c["references"] == 1]
    assert joint_positive and all(c["context_tokens"] == full for c in joint_positive)
    late_positive = [c for c in phases["vae_focused"] if c["references"] == 1]
    assert late_positive and all(c["context_tokens"] < full for c in late_positive)
