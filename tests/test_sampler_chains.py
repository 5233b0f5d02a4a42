"""The stage samplers with every sampler artists pick, image to image, the GUIDER front door, a stock
ControlNet in every stage, a latent-upscale second pass and the schedule preview, through /prompt."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

from tests.harness.graphs import add_sampler, multi_stage, tiny_pipeline, write_reference
from tools.comfyui_server import execution_error, saved_latents

SAMPLERS = ("euler", "euler_ancestral", "dpmpp_2m", "uni_pc", "res_multistep")
SCHEDULERS = ("simple", "karras", "beta")


def _run(server, graph: dict) -> dict:
    entry = server.run(graph)
    assert entry["status"]["status_str"] == "success", execution_error(entry) or server.log_tail()
    return entry


@pytest.fixture(scope="module")
def reference(comfy_server):
    return write_reference(comfy_server.base, "chains_subject.png")


def test_every_sampler_scheduler_and_denoise_runs_the_presets(comfy_server, reference):
    graph = tiny_pipeline(reference, seed=11, steps=5)
    for sampler in SAMPLERS:
        for scheduler in SCHEDULERS:
            add_sampler(graph, f"{sampler}_{scheduler}", multi_stage("paper"), sampler_name=sampler,
                        scheduler=scheduler)
        add_sampler(graph, f"{sampler}_ramp", multi_stage("semantic_first", identity_strength=0.7),
                    sampler_name=sampler)
        add_sampler(graph, f"{sampler}_img2img", multi_stage("paper"), sampler_name=sampler,
                    latent_image=["sampler", 0], denoise=0.6)
    latents = saved_latents(comfy_server, _run(comfy_server, graph))
    runs = {name.removeprefix("save_"): value for name, value in latents.items() if name != "save"}
    assert len(runs) == len(SAMPLERS) * (len(SCHEDULERS) + 2)
    for name, latent in runs.items():
        assert torch.isfinite(latent).all() and latent.abs().max() > 0, name
    start = latents["save"]
    for sampler in SAMPLERS:
        kept = (runs[f"{sampler}_img2img"] - start).abs().mean() / start.abs().mean()
        assert 0 < kept < 1.5, (sampler, float(kept))


def test_stage_guider_in_sampler_custom_advanced_equals_the_multi_stage_ksampler(comfy_server, reference):
    graph = tiny_pipeline(reference, seed=4, steps=6, sampler=multi_stage("paper", identity_strength=0.6))
    stock_inputs = graph["sampler"]["inputs"]
    schedule = {key: stock_inputs[key] for key in ("schedule", "switch_1", "switch_2", "identity_strength",
                                                   "semantic_strength")}
    graph.update({
        "guider": {"class_type": "SqueezeStageGuider", "inputs": {
            "model": stock_inputs["model"], "positive": stock_inputs["positive"],
            "negative": stock_inputs["negative"], "cfg": stock_inputs["cfg"], **schedule}},
        "noise": {"class_type": "RandomNoise", "inputs": {"noise_seed": 4}},
        "select": {"class_type": "KSamplerSelect", "inputs": {"sampler_name": "euler"}},
        "sigmas": {"class_type": "BasicScheduler", "inputs": {"model": stock_inputs["model"], "scheduler": "simple",
                                                             "steps": 6, "denoise": 1.0}},
        "custom": {"class_type": "SamplerCustomAdvanced", "inputs": {
            "noise": ["noise", 0], "guider": ["guider", 0], "sampler": ["select", 0], "sigmas": ["sigmas", 0],
            "latent_image": ["latent", 0]}},
        "save_custom": {"class_type": "SaveLatent", "inputs": {"samples": ["custom", 0],
                                                               "filename_prefix": "latents/custom"}},
    })
    latents = saved_latents(comfy_server, _run(comfy_server, graph))
    assert (latents["save_custom"] - latents["save"]).abs().max().item() <= 1e-5


def _calls(server, name: str) -> list[dict]:
    with open(os.path.join(server.base, "output", name), encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def test_a_stock_controlnet_stays_active_in_every_stage(comfy_server, reference):
    log = "controlnet_calls.jsonl"
    if os.path.exists(os.path.join(comfy_server.base, "output", log)):
        os.remove(os.path.join(comfy_server.base, "output", log))
    graph = tiny_pipeline(reference, seed=8, steps=20, record=log, sampler=multi_stage("paper"))
    graph.update({
        "controlnet": {"class_type": "SqueezeTestTinyQwenControlNet", "inputs": {"context_dim": 32,
                                                                                 "weight_seed": 3}},
        "hint": {"class_type": "LoadImage", "inputs": {"image": write_reference(
            comfy_server.base, "hint.png", size=(64, 64), colour=(255, 255, 255))}},
        "apply": {"class_type": "ControlNetApplyAdvanced", "inputs": {
            "positive": ["identity", 0], "negative": ["negative", 0], "control_net": ["controlnet", 0],
            "image": ["hint", 0], "strength": 1.0, "start_percent": 0.0, "end_percent": 1.0, "vae": ["vae", 0]}},
    })
    graph["sampler"]["inputs"].update(positive=["apply", 0], negative=["apply", 1])
    add_sampler(graph, "without_control", multi_stage("paper"), model=["model", 0], positive=["identity", 0],
                negative=["negative", 0])
    latents = saved_latents(comfy_server, _run(comfy_server, graph))
    calls = _calls(comfy_server, log)
    phases = {"mllm_only": (0.0, 0.05), "joint": (0.05, 0.15), "vae_focused": (0.15, 1.01)}
    for phase, (low, high) in phases.items():
        in_phase = [call for call in calls if low <= 1.0 - call["sigma"] < high]
        assert in_phase and all(call["control"] for call in in_phase), phase
    assert (latents["save"] - latents["save_without_control"]).abs().max().item() > 1e-3


def test_a_latent_upscale_second_pass_runs(comfy_server, reference):
    graph = tiny_pipeline(reference, seed=2, steps=4, sampler=multi_stage("paper"))
    graph["upscale"] = {"class_type": "LatentUpscaleBy", "inputs": {"samples": ["sampler", 0],
                                                                    "upscale_method": "nearest-exact",
                                                                    "scale_by": 1.5}}
    add_sampler(graph, "second_pass", multi_stage("paper"), latent_image=["upscale", 0], denoise=0.5)
    latents = saved_latents(comfy_server, _run(comfy_server, graph))
    first, second = latents["save"], latents["save_second_pass"]
    assert second.shape[-2:] == (first.shape[-2] * 3 // 2, first.shape[-1] * 3 // 2)
    assert torch.isfinite(second).all()


def test_schedule_preview_draws_the_schedule_on_the_models_steps(comfy_server):
    graph = {"model": {"class_type": "SqueezeTestTinyQwenImage", "inputs": {"context_dim": 32, "num_layers": 1,
                                                                           "weight_seed": 0}}}
    for preset in ("always", "paper"):
        graph[f"preview_{preset}"] = {"class_type": "SqueezeSchedulePreview", "inputs": {
            "model": ["model", 0], "steps": 10, "scheduler": "simple", "denoise": 1.0, "schedule": preset,
            "switch_1": 0.05, "switch_2": 0.15, "identity_strength": 1.0, "semantic_strength": 1.0}}
        graph[f"save_{preset}"] = {"class_type": "SaveImage", "inputs": {"images": [f"preview_{preset}", 0],
                                                                         "filename_prefix": f"preview_{preset}"}}
    entry = _run(comfy_server, graph)
    pictures = {}
    for path in comfy_server.output_images(entry):
        with Image.open(path) as image:
            pictures[os.path.basename(path).split("_")[1]] = np.asarray(image.convert("RGB"))
    assert set(pictures) == {"always", "paper"}
    assert pictures["always"].shape == (256, 512, 3)
    first_identity_bar = (slice(200, 230), slice(27, 49))
    assert pictures["always"][first_identity_bar].mean() > pictures["paper"][first_identity_bar].mean() + 50
