"""/interrupt stops a multi-stage run within one step, and leaves nothing behind: the next prompt's output
equals a fresh server's bit for bit."""

from __future__ import annotations

import os
import time

import torch

from tests.harness.graphs import multi_stage, tiny_pipeline, write_reference
from tests.harness.servers import start_test_server
from tools.comfyui_server import execution_error, saved_latents


def _count_lines(path: str) -> int:
    if not os.path.exists(path):
        return 0
    with open(path, encoding="utf-8") as handle:
        return sum(1 for _ in handle)


def _after_interrupt_probe(reference: str) -> dict:
    return tiny_pipeline(reference, seed=21, steps=6, sampler=multi_stage("paper", identity_strength=0.5))


def test_interrupt_stops_within_a_step_and_leaves_nothing_behind(comfy_server, tmp_path):
    reference = write_reference(comfy_server.base, "interrupt_subject.png")
    log = os.path.join(comfy_server.base, "output", "interrupt_calls.jsonl")
    if os.path.exists(log):
        os.remove(log)
    long_run = tiny_pipeline(reference, seed=20, steps=400, size=128, record="interrupt_calls.jsonl",
                             sampler=multi_stage("semantic_first", identity_strength=0.5))
    status, body = comfy_server.queue(long_run)
    assert status == 200, body
    deadline = time.monotonic() + 120
    while _count_lines(log) < 6:
        assert time.monotonic() < deadline, comfy_server.log_tail()
        time.sleep(0.02)
    comfy_server.request("/interrupt", {})
    calls_at_interrupt = _count_lines(log)
    entry = comfy_server.wait(body["prompt_id"], timeout=120)
    kinds = [kind for kind, _ in entry["status"]["messages"]]
    assert "execution_interrupted" in kinds, kinds
    calls_per_step = 2
    assert _count_lines(log) - calls_at_interrupt <= calls_per_step

    after = comfy_server.run(_after_interrupt_probe(reference))
    assert after["status"]["status_str"] == "success", execution_error(after)
    fresh = start_test_server(tmp_path / "fresh")
    try:
        write_reference(fresh.base, "interrupt_subject.png")
        clean = fresh.run(_after_interrupt_probe(reference))
        assert clean["status"]["status_str"] == "success", execution_error(clean)
        expected = saved_latents(fresh, clean)["save"]
    finally:
        fresh.stop()
    assert torch.equal(saved_latents(comfy_server, after)["save"], expected)
