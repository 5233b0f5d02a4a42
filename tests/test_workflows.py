"""Every workflow in workflows/ runs as saved through /prompt (on stand-in models, or the shipped miniature)
and writes a PNG;
the same seed gives the same pixels after the server dropped every cache, another seed other pixels."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
from PIL import Image

from squeeze_core.miniature.example import EXAMPLE_PICTURES, EXAMPLE_SCHEDULE, example_case
from squeeze_core.miniature.study import GUIDANCE, SCHEDULES
from squeeze_core.schedule import schedule_from_preset
from tests.harness.servers import TEST_NODES
from tests.harness.examples import set_seed, swap_clip_loaders
from tools.comfyui_server import execution_error
from tools.run_workflow import WORKFLOWS_DIR, run_prompt, start_example_server, workflow_files, workflow_prompt
from tools.workflow_api import BYPASSED, load_workflow, workflow_to_prompt


@pytest.fixture(scope="module")
def example_server(tmp_path_factory, comfyui_tree):
    server = start_example_server(str(tmp_path_factory.mktemp("example_base")), extra_nodes=[TEST_NODES])
    yield server
    server.stop()


def _pixels(paths: list[str]) -> np.ndarray:
    assert len(paths) == 1 and paths[0].endswith(".png"), paths
    with Image.open(paths[0]) as image:
        return np.asarray(image.convert("RGB"), dtype=np.int16)


def _cached_nodes(server, prompt: dict) -> list[str]:
    status, body = server.queue(prompt)
    assert status == 200, body
    entry = server.wait(body["prompt_id"], timeout=900)
    assert entry["status"]["status_str"] == "success", entry["status"]
    cached = [message["nodes"] for kind, message in entry["status"]["messages"] if kind == "execution_cached"]
    return cached[0] if cached else [], server.output_images(entry, saved_only=True)


def test_every_shipped_workflow_is_tested():
    names = [os.path.basename(path) for path in workflow_files()]
    assert {"squeeze_qwen_image_edit.json", "squeeze_mllm_dla.json", "squeeze_miniature.json",
            "squeeze_qwen_image_edit_two_subjects.json", "squeeze_miniature_best_of_seeds.json"} <= set(names)


@pytest.mark.parametrize("path", workflow_files(), ids=os.path.basename)
def test_workflow_runs_and_is_deterministic(example_server, path):
    prompt = workflow_prompt(example_server, path)
    swapped = swap_clip_loaders(prompt)
    if swapped:
        warnings.warn(f"{os.path.basename(path)}: CLIPLoader (node {', '.join(swapped)}) swapped for the test-only "
                      f"SqueezeTestTinyQwenImageCLIP; the stock loader builds only the 7B text encoder")
    seeds = {node["inputs"]["seed"] for node in prompt.values() if "seed" in node["inputs"]}
    assert len(seeds) == 1, "each example workflow has one sampler seed"

    first = _pixels(run_prompt(example_server, prompt))
    assert first.shape[2] == 3 and first.std() > 0

    example_server.free_caches()
    cached, again = _cached_nodes(example_server, prompt)
    assert cached == [], "the rerun must execute every node again, not read ComfyUI's cache"
    assert np.array_equal(_pixels(again), first)

    set_seed(prompt, seeds.pop() + 1)
    other = _pixels(run_prompt(example_server, prompt))
    assert other.shape == first.shape
    assert (other != first).any(axis=2).mean() > 0.01, "another seed must change the result, not a few pixels"


def test_the_two_subject_regions_change_the_result(example_server):
    """The example's regions do something: with both region nodes bypassed the same seed gives other pixels (a
    rerun gives the same pixels exactly, above, so any difference is the regions'; the stand-in model's random
    weights give the references a small share of attention, hence a small one)."""
    path = os.path.join(WORKFLOWS_DIR, "squeeze_qwen_image_edit_two_subjects.json")
    workflow = load_workflow(path)
    regions = [node for node in workflow["nodes"] if node["type"] == "SqueezeReferenceRegion"]
    assert len(regions) == 2
    bound = workflow_to_prompt(workflow, example_server.get("/object_info"))
    for node in regions:
        node["mode"] = BYPASSED
    free = workflow_to_prompt(workflow, example_server.get("/object_info"))
    for prompt in (bound, free):
        swap_clip_loaders(prompt)
    assert np.abs(_pixels(run_prompt(example_server, bound)) - _pixels(run_prompt(example_server, free))).mean() > 0.1


def test_the_best_of_seeds_workflow_ranks_its_four_results(example_server):
    """The scores text (read through a stock Preview as Text node) lists the four seeds' results once each, best
    first; the sheet saved is the first of the four the ranker returns when it keeps them all."""
    path = os.path.join(WORKFLOWS_DIR, "squeeze_miniature_best_of_seeds.json")
    prompt = workflow_prompt(example_server, path)
    [ranker] = [name for name, node in prompt.items() if node["class_type"] == "SqueezeRankBySubject"]
    assert prompt[ranker]["inputs"]["keep"] == 1
    prompt["scores_text"] = {"class_type": "PreviewAny", "inputs": {"source": [ranker, 1]}}
    entry = example_server.run(prompt)
    assert entry["status"]["status_str"] == "success", execution_error(entry)
    [text] = entry["outputs"]["scores_text"]["text"]
    places = [int(line.split("image ")[1].split()[0]) for line in text.splitlines()]
    assert sorted(places) == [0, 1, 2, 3] and all("dino" in line and "clip_t" in line for line in text.splitlines())
    best = _pixels(example_server.output_images(entry, saved_only=True))
    prompt[ranker]["inputs"]["keep"] = 0
    every = sorted(run_prompt(example_server, prompt))
    assert len(every) == 4
    assert np.array_equal(_pixels(every[:1]), best)


@pytest.mark.parametrize("name", ("squeeze_miniature.json", "squeeze_miniature_best_of_seeds.json"))
def test_the_miniature_workflows_sample_as_the_study_measured(name):
    """Their sampler runs the schedule and guidance the README's figures for them were measured at, and the main
    workflow shows the example case: its two pictures and its instruction."""
    workflow = load_workflow(os.path.join(WORKFLOWS_DIR, name))
    nodes = {node["type"]: node["widgets_values"] for node in workflow["nodes"]}
    (_, _, steps, cfg, _, _, _, preset, switch_1, switch_2, _, _, semantic, identity) = \
        nodes["SqueezeMultiStageKSampler"]
    given = schedule_from_preset(preset, switch_1=switch_1, switch_2=switch_2, semantic_points=semantic,
                                 identity_points=identity)
    measured = SCHEDULES[EXAMPLE_SCHEDULE]
    for progress in np.linspace(0.0, 1.0, 41):
        assert given.weights(progress) == measured.weights(progress), progress
    assert cfg == GUIDANCE and steps == 20
    if name == "squeeze_miniature.json":
        assert nodes["PrimitiveStringMultiline"] == [example_case().instruction.text]
        loaded = [node["widgets_values"][0] for node in workflow["nodes"] if node["type"] == "LoadImage"]
        assert sorted(loaded) == sorted(EXAMPLE_PICTURES)
