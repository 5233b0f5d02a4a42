"""Bad input through /prompt gets a node error that names the node and the fix; the server keeps serving."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from PIL import Image

from squeeze_core.dla import DLAConfig, DualLayerAggregator
from squeeze_core.dla_io import save_dla
from tests.harness.graphs import tiny_pipeline, write_reference
from tests.harness.server import execution_error


def _with_dla(graph: dict, dla_name: str) -> dict:
    graph["dla"] = {"class_type": "SqueezeDLALoader", "inputs": {"dla_name": dla_name}}
    graph["aggregate"]["inputs"]["dla"] = ["dla", 0]
    return graph


def _missing_model_file(server, reference):
    return _with_dla(tiny_pipeline(reference), "not_downloaded_yet.safetensors")


def _dla_for_another_mllm(server, reference):
    torch.manual_seed(0)
    config = DLAConfig(mllm_hidden_size=48, mllm_num_layers=4, layer_indices=range(5), context_dim=32, pool_dim=16,
                       pool_heads=2, source_model="another-mllm")
    save_dla(DualLayerAggregator(config), server.models("squeeze_dla", "for_another_mllm.safetensors"))
    return _with_dla(tiny_pipeline(reference), "for_another_mllm.safetensors")


def _rgba_image(server, reference):
    pixels = np.full((48, 48, 4), 255, dtype=np.uint8)
    pixels[:, :24, 3] = 0
    Image.fromarray(pixels, "RGBA").save(os.path.join(server.base, "input", "cutout.png"))
    graph = tiny_pipeline("cutout.png")
    graph["rgba"] = {"class_type": "JoinImageWithAlpha", "inputs": {"image": ["image", 0], "alpha": ["image", 1]}}
    graph["encode"]["inputs"]["image1"] = ["rgba", 0]
    graph["identity"]["inputs"]["image1"] = ["rgba", 0]
    return graph


def _one_pixel_image(server, reference):
    return tiny_pipeline(write_reference(server.base, "one_pixel.png", size=(1, 1)))


def _empty_prompt(server, reference):
    return tiny_pipeline(reference, prompt="  ")


def _fake_safetensors(server, reference):
    with open(server.models("squeeze_dla", "renamed_checkpoint.safetensors"), "wb") as handle:
        handle.write(b"PK\x03\x04 a zip archive renamed to .safetensors")
    return _with_dla(tiny_pipeline(reference), "renamed_checkpoint.safetensors")


def _mllm_folder_without_config(server, reference):
    folder = server.models("mllm", "half-copied-mllm")
    with open(os.path.join(folder, "model.safetensors"), "wb") as handle:
        handle.write(b"")
    graph = tiny_pipeline(reference)
    graph["mllm"]["inputs"]["mllm_name"] = "half-copied-mllm"
    return graph


# case -> (build, the node that must report, words the message must hold: node name, then the fix)
CASES = {
    "missing model file": (_missing_model_file, "dla", ["Squeeze DLA Loader", "not_downloaded_yet",
                                                         "models/squeeze_dla"]),
    "DLA for another MLLM": (_dla_for_another_mllm, "aggregate", ["Squeeze DLA Aggregate", "width 48",
                                                                  "width 32", "DLA trained for this MLLM"]),
    "RGBA image": (_rgba_image, "encode", ["Squeeze MLLM Joint Encode", "transparent", "background"]),
    "1x1 image": (_one_pixel_image, "encode", ["Squeeze MLLM Joint Encode", "1x1", "full-size picture"]),
    "empty prompt": (_empty_prompt, "encode", ["Squeeze MLLM Joint Encode", "prompt is empty", "write an"]),
    "not a safetensors file": (_fake_safetensors, "dla", ["Squeeze DLA Loader", "renamed_checkpoint",
                                                          "not a readable safetensors file"]),
    "MLLM folder without config": (_mllm_folder_without_config, "mllm", ["Squeeze MLLM Loader", "half-copied-mllm",
                                                                         "no config.json"]),
}


def _reported_error(server, prompt: dict) -> tuple[str, str]:
    """(node id, message) of the error the prompt gets, when queued or when run."""
    status, body = server.queue(prompt)
    if status != 200:
        assert status == 400, body
        [(node_id, report)] = body["node_errors"].items()
        return node_id, " ".join(f"{error['message']}: {error['details']}" for error in report["errors"])
    error = execution_error(server.wait(body["prompt_id"]))
    assert error is not None, "the bad prompt ran without an error"
    return error["node_id"], error["exception_message"]


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_names_node_and_fix_then_server_serves(comfy_server, case):
    build, node_id, words = CASES[case]
    reference = write_reference(comfy_server.base, "errors_reference.png")
    reported_node, message = _reported_error(comfy_server, build(comfy_server, reference))
    assert reported_node == node_id, message
    for word in words:
        assert word in message, f"{word!r} missing from: {message}"
    assert "Traceback" not in message

    entry = comfy_server.run(tiny_pipeline(reference, steps=2, prompt=f"after the {case} error"))
    assert entry["status"]["status_str"] == "success", execution_error(entry)
