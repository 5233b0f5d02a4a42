"""A subject encoded once and reused, in a real ComfyUI server through /prompt: the same results as encoding the
pictures with every prompt, an encoded subject kept between queued prompts, and instructions x seeds in one
batch, with or without reference regions."""

import os

import numpy as np
import pytest
import torch
from PIL import Image

from tests.harness.bad_input import Refused, check_case
from tests.harness.graphs import multi_stage, tiny_pipeline, write_reference
from tools.comfyui_server import execution_error, saved_latents

INSTRUCTIONS = ["put it small in the top left", "make it large in the centre"]


@pytest.fixture(scope="module")
def reference(comfy_server):
    return write_reference(comfy_server.base, "subject_nodes.png", size=(80, 64), colour=(30, 160, 200))


def _encoded_each_time(reference: str, prompt: str, seed: int) -> dict:
    """The pipeline that encodes pictures and prompt together, with the subject's negative (empty instruction)."""
    graph = tiny_pipeline(reference, prompt=prompt, seed=seed, sampler=multi_stage("paper"))
    graph["negative_encode"] = {"class_type": "SqueezeMLLMEncode",
                                "inputs": {**graph["encode"]["inputs"], "prompt": ""}}
    graph["negative_aggregate"] = {"class_type": "SqueezeDLAAggregate", "inputs": {"features": ["negative_encode", 0]}}
    graph["negative"] = {"class_type": "SqueezeVAEIdentityEncode",
                         "inputs": {**graph["identity"]["inputs"], "conditioning": ["negative_aggregate", 0]}}
    return graph


def _with_subject(graph: dict) -> dict:
    """The same graph with both prompts given to one encoded subject."""
    graph = dict(graph)
    graph["subject"] = {"class_type": "SqueezeSubjectEncode",
                        "inputs": {"mllm": ["mllm", 0], "image1": ["image", 0], "vae": ["vae", 0],
                                   "vision_resolution": 112, "picture_labels": True, "identity_resolution": 64}}
    for name, prompt in (("identity", graph["encode"]["inputs"]["prompt"]), ("negative", "")):
        graph[name] = {"class_type": "SqueezeSubjectConditioning",
                       "inputs": {"mllm": ["mllm", 0], "subject": ["subject", 0], "prompt": prompt}}
    for name in ("encode", "aggregate", "negative_encode", "negative_aggregate"):
        del graph[name]
    return graph


def _run(server, graph) -> dict:
    entry = server.run(graph)
    assert entry["status"]["status_str"] == "success", execution_error(entry) or server.log_tail()
    return entry


def _cached_nodes(entry: dict) -> set[str]:
    return {node for kind, data in entry["status"]["messages"] if kind == "execution_cached" for node in data["nodes"]}


def test_a_reused_subject_gives_what_encoding_each_time_gives(comfy_server, reference):
    expected = [saved_latents(comfy_server, _run(comfy_server, _encoded_each_time(reference, prompt, seed)))["save"]
                for seed, prompt in enumerate(INSTRUCTIONS)]
    for seed, prompt in enumerate(INSTRUCTIONS):
        entry = _run(comfy_server, _with_subject(_encoded_each_time(reference, prompt, seed)))
        reused = saved_latents(comfy_server, entry)["save"]
        assert reused.shape == expected[seed].shape
        assert (reused - expected[seed]).abs().max().item() <= 1e-4
        if seed > 0:
            assert "subject" in _cached_nodes(entry), "the subject was encoded again for a new prompt"


def test_instructions_times_seeds_in_one_batch(comfy_server, reference):
    graph = _with_subject(_encoded_each_time(reference, INSTRUCTIONS[0], 5))
    sampler = graph.pop("sampler")["inputs"]
    graph["batch"] = {"class_type": "SqueezeSubjectBatchSampler",
                      "inputs": {**{key: sampler[key] for key in sampler if key not in ("positive", "negative")},
                                 "mllm": ["mllm", 0], "subject": ["subject", 0],
                                 "instructions": "\n".join(INSTRUCTIONS) + "\n\n", "negative_prompt": "",
                                 "seeds_per_instruction": 2}}
    graph["save"]["inputs"]["samples"] = ["batch", 0]
    graph["captions"] = {"class_type": "PreviewAny", "inputs": {"source": ["batch", 1]}}
    graph["decode"] = {"class_type": "VAEDecode", "inputs": {"samples": ["batch", 0], "vae": ["vae", 0]}}
    for name, caption in (("sheets", ["batch", 1]), ("sheets_one_caption", "one caption for all")):
        graph[name] = {"class_type": "SqueezeSideBySide", "inputs": {"reference": ["image", 0], "result": ["decode", 0],
                                                                     "prompt": caption, "side": 64}}
        graph[f"save_{name}"] = {"class_type": "SaveImage", "inputs": {"images": [name, 0], "filename_prefix": name}}
    entry = _run(comfy_server, graph)
    batch = saved_latents(comfy_server, entry)["save"]
    assert batch.shape[0] == 4
    for index, (prompt, seed) in enumerate((p, s) for p in INSTRUCTIONS for s in (5, 6)):
        single = saved_latents(comfy_server, _run(comfy_server, _with_subject(
            _encoded_each_time(reference, prompt, seed))))["save"]
        assert (batch[index:index + 1] - single).abs().max().item() <= 1e-4, (prompt, seed)
    assert not torch.equal(batch[0], batch[1]) and not torch.equal(batch[0], batch[2])
    captions = entry["outputs"]["captions"]["text"][0].splitlines()
    assert captions == [f"{p} (seed {s})" for p in INSTRUCTIONS for s in (5, 6)]
    sheets = {name: [np.asarray(Image.open(os.path.join(comfy_server.base, "output", image["subfolder"],
                                                        image["filename"])))
                     for image in entry["outputs"][f"save_{name}"]["images"]]
              for name in ("sheets", "sheets_one_caption")}
    assert len(sheets["sheets"]) == len(sheets["sheets_one_caption"]) == 4
    assert all(not np.array_equal(own, shared) for own, shared in zip(sheets["sheets"], sheets["sheets_one_caption"]))


def test_a_batch_without_instructions_names_the_node(comfy_server, reference):
    graph = _with_subject(_encoded_each_time(reference, INSTRUCTIONS[0], 0))
    sampler = graph.pop("sampler")["inputs"]
    graph["batch"] = {"class_type": "SqueezeSubjectBatchSampler",
                      "inputs": {**{key: sampler[key] for key in sampler if key not in ("positive", "negative")},
                                 "mllm": ["mllm", 0], "subject": ["subject", 0], "instructions": " \n ",
                                 "negative_prompt": "", "seeds_per_instruction": 1}}
    graph["save"]["inputs"]["samples"] = ["batch", 0]
    entry = comfy_server.run(graph)
    assert entry["status"]["status_str"] == "error"
    assert "Squeeze Subject Batch Sampler: no instruction given" in execution_error(entry)["exception_message"]
    _run(comfy_server, _with_subject(_encoded_each_time(reference, INSTRUCTIONS[0], 0)))


def _loaded_instead(graph: dict, subject_name: str) -> dict:
    graph = dict(graph)
    graph["subject"] = {"class_type": "SqueezeSubjectLoader", "inputs": {"subject_name": subject_name}}
    return graph


def test_a_saved_subject_loads_and_gives_the_same_result(comfy_server, reference):
    graph = _with_subject(_encoded_each_time(reference, INSTRUCTIONS[1], 9))
    graph["save_subject"] = {"class_type": "SqueezeSubjectSave",
                             "inputs": {"subject": ["subject", 0], "filename_prefix": "squeeze_subjects/toy"}}
    encoded = saved_latents(comfy_server, _run(comfy_server, graph))["save"]
    folder = os.path.join(comfy_server.base, "output", "squeeze_subjects")
    name = sorted(file for file in os.listdir(folder) if file.startswith("toy_"))[-1]
    loaded = saved_latents(comfy_server, _run(comfy_server, _loaded_instead(
        _with_subject(_encoded_each_time(reference, INSTRUCTIONS[1], 9)), name)))["save"]
    assert torch.equal(loaded, encoded)


@pytest.mark.parametrize("name", ["../../comfyui.db", "/etc/hostname", "never_saved.safetensors"])
def test_a_subject_name_outside_its_folders_is_refused(comfy_server, name):
    def build(server, picture):
        return _loaded_instead(_with_subject(_encoded_each_time(picture, INSTRUCTIONS[0], 0)), name)

    check_case(comfy_server, f"subject {name}", Refused(build, "subject", ["Squeeze Subject Loader", "no subject named",
                                                                          "Squeeze Subject Save"]))


REGION = {"reference": 1, "strength": 1.0, "left": 0.0, "top": 0.0, "right": 0.5, "bottom": 1.0}


def _with_region(graph: dict) -> dict:
    """The same graph with the subject's reference bound to the left half."""
    graph = dict(graph)
    graph["region"] = {"class_type": "SqueezeReferenceRegion", "inputs": {"conditioning": ["identity", 0], **REGION}}
    graph["sampler"] = {**graph["sampler"], "inputs": {**graph["sampler"]["inputs"], "positive": ["region", 0]}}
    return graph


def test_the_batch_takes_regions_from_a_conditioning(comfy_server, reference):
    """Each result of a batch with regions_from is what the Multi-Stage KSampler gives with the same region, and
    not what it gives without one."""
    graph = _with_region(_with_subject(_encoded_each_time(reference, INSTRUCTIONS[0], 5)))
    sampler = graph.pop("sampler")["inputs"]
    graph["batch"] = {"class_type": "SqueezeSubjectBatchSampler",
                      "inputs": {**{key: sampler[key] for key in sampler if key not in ("positive", "negative")},
                                 "mllm": ["mllm", 0], "subject": ["subject", 0],
                                 "instructions": "\n".join(INSTRUCTIONS), "negative_prompt": "",
                                 "seeds_per_instruction": 1, "regions_from": ["region", 0]}}
    graph["save"]["inputs"]["samples"] = ["batch", 0]
    batch = saved_latents(comfy_server, _run(comfy_server, graph))["save"]
    for index, prompt in enumerate(INSTRUCTIONS):
        bound = saved_latents(comfy_server, _run(comfy_server, _with_region(_with_subject(
            _encoded_each_time(reference, prompt, 5)))))["save"]
        free = saved_latents(comfy_server, _run(comfy_server, _with_subject(
            _encoded_each_time(reference, prompt, 5))))["save"]
        assert (batch[index:index + 1] - bound).abs().max().item() <= 1e-4, prompt
        assert (batch[index:index + 1] - free).abs().max().item() > 1e-3, prompt
