"""Squeeze Scorer Loader and Squeeze Rank by Subject in a real server: a batch of three pictures, one of them the
reference, comes back with the reference first; a scorer name outside models/squeeze_scorers is refused by the
loader, and the server keeps serving."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from squeeze_core.tiny_scorers import build_tiny_clip, build_tiny_dino
from tests.harness.bad_input import reported_error
from tools.comfyui_server import execution_error

DINO, CLIP = "tiny-dino-vits16", "tiny-clip"


@pytest.fixture(scope="module")
def pictures(comfy_server) -> dict[str, np.ndarray]:
    build_tiny_dino(comfy_server.models("squeeze_scorers", DINO))
    build_tiny_clip(comfy_server.models("squeeze_scorers", CLIP))
    made = {}
    for seed, name in enumerate(("rank_other_1.png", "rank_subject.png", "rank_other_2.png")):
        pixels = np.random.default_rng(seed).integers(0, 256, (64, 64, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(f"{comfy_server.base}/input/{name}")
        made[name] = pixels
    return made


def _graph(keep: int, dino: str = DINO) -> dict:
    graph = {name: {"class_type": "LoadImage", "inputs": {"image": f"rank_{name}.png"}}
             for name in ("other_1", "subject", "other_2")}
    graph.update({
        "first_two": {"class_type": "ImageBatch", "inputs": {"image1": ["other_1", 0], "image2": ["subject", 0]}},
        "batch": {"class_type": "ImageBatch", "inputs": {"image1": ["first_two", 0], "image2": ["other_2", 0]}},
        "scorer": {"class_type": "SqueezeScorerLoader", "inputs": {"dino_name": dino, "clip_name": CLIP}},
        "rank": {"class_type": "SqueezeRankBySubject",
                 "inputs": {"scorer": ["scorer", 0], "images": ["batch", 0], "reference": ["subject", 0],
                            "prompt": "the toy on a beach", "identity_weight": 1.0, "instruction_weight": 0.0,
                            "keep": keep}},
        "save": {"class_type": "SaveImage", "inputs": {"images": ["rank", 0], "filename_prefix": f"ranked_{keep}"}},
    })
    return graph


@pytest.mark.parametrize("keep", [0, 1])
def test_the_reference_itself_ranks_first(comfy_server, pictures, keep):
    entry = comfy_server.run(_graph(keep))
    assert execution_error(entry) is None, execution_error(entry)
    saved = [np.asarray(Image.open(path)) for path in comfy_server.output_images(entry, saved_only=True)]
    assert len(saved) == (keep or 3)
    assert np.array_equal(saved[0], pictures["rank_subject.png"])
    if not keep:
        rest = [image.tobytes() for image in saved[1:]]
        assert sorted(rest) == sorted(pictures[name].tobytes() for name in ("rank_other_1.png", "rank_other_2.png"))


def test_a_scorer_outside_its_folder_is_refused(comfy_server, pictures):
    node, message = reported_error(comfy_server, _graph(0, dino="../mllm"))
    assert node == "scorer" and "Squeeze Scorer Loader" in message and "models/squeeze_scorers" in message
    entry = comfy_server.run(_graph(1))
    assert execution_error(entry) is None
