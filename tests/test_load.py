"""A long queue: 100 prompts, valid and invalid mixed, queued at once after a warm-up. The server's resident
memory grows by less than 5%, and the model the samplers used carries no wrapper, patch or attention override
afterwards (the stage samplers change only per-call copies)."""

from __future__ import annotations

import json
import math
import os

import psutil

from tests.harness.graphs import multi_stage, tiny_pipeline, write_reference
from tools.comfyui_server import execution_error

SCHEDULES = ("paper", "semantic_first", "always")


def _valid(reference: str, k: int) -> dict:
    graph = tiny_pipeline(reference, seed=k, steps=2, sampler=multi_stage(SCHEDULES[k % 3], identity_strength=0.5))
    graph["inspect"] = {"class_type": "SqueezeTestInspectModel",
                        "inputs": {"model": ["model", 0], "file_name": "load_model_state.json", "nonce": k}}
    return graph


def _kind(k: int) -> str:
    """Every fourth prompt is bad: alternately refused when queued and failing when run."""
    if k % 4 != 3:
        return "valid"
    return "refused" if (k // 4) % 2 == 0 else "failing"


def _prompt(reference: str, k: int) -> dict:
    kind = _kind(k)
    if kind == "refused":
        return tiny_pipeline(reference, seed=k, sampler=multi_stage(identity_strength=math.nan))
    if kind == "failing":
        return tiny_pipeline(reference, seed=k, prompt="put it small " * 4000)
    return _valid(reference, k)


def _rss(server) -> int:
    return psutil.Process(server.process.pid).memory_info().rss


def test_a_hundred_mixed_prompts_leave_nothing_behind(comfy_server):
    reference = write_reference(comfy_server.base, "load_subject.png")
    for k in range(10):
        assert comfy_server.run(_valid(reference, 1000 + k))["status"]["status_str"] == "success"
    before = _rss(comfy_server)
    queued, refused = [], []
    for k in range(100):
        status, body = comfy_server.queue(_prompt(reference, k))
        if status == 200:
            queued.append((k, body["prompt_id"]))
        else:
            refused.append(k)
    outcomes = {k: comfy_server.wait(prompt_id, timeout=900) for k, prompt_id in queued}
    after = _rss(comfy_server)
    failed = sorted(k for k, entry in outcomes.items() if execution_error(entry) is not None)
    assert refused == [k for k in range(100) if _kind(k) == "refused"]
    assert failed == [k for k in range(100) if _kind(k) == "failing"]
    assert all(outcomes[k]["status"]["status_str"] == "success" for k in outcomes if _kind(k) == "valid")
    assert after < 1.05 * before, f"resident memory grew from {before / 2**20:.0f} to {after / 2**20:.0f} MB"
    with open(os.path.join(comfy_server.base, "output", "load_model_state.json"), encoding="utf-8") as handle:
        state = json.load(handle)
    assert "model_function_wrapper" not in state["model_options"], state
    assert "optimized_attention_override" not in state["transformer_options"], state
    assert state["wrappers"] == [] and state["object_patches"] == [] and state["patches"] == 0, state
