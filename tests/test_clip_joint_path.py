"""The training-free path (CLIP joint encode -> DLA aggregate without a DLA -> VAE identity) reproduces
ComfyUI's own Qwen-Image-Edit text encode nodes, on a tiny Qwen2.5-VL built from ComfyUI's classes."""

from __future__ import annotations

import os

import pytest
from safetensors.torch import load_file

from tests.harness.graphs import TINY_VAE, write_reference
from tools.comfyui_server import execution_error

PROMPT = "Put the subject of Picture 1 small in the top left on a blue background"

# Stock node -> (reference size, the pack's settings that reproduce it).
CASES = {
    "TextEncodeQwenImageEditPlus": ((96, 64), {"vision_resolution": 384, "picture_labels": True}),
    "TextEncodeQwenImageEdit": ((64, 64), {"vision_resolution": 1024, "picture_labels": False}),
}


def _graph(stock: str, reference: str, settings: dict) -> dict:
    image_slot = "image1" if stock.endswith("Plus") else "image"
    return {
        "clip": {"class_type": "SqueezeTestTinyQwenImageCLIP",
                 "inputs": {"hidden_size": 64, "num_layers": 2, "weight_seed": 0}},
        "vae": {"class_type": "VAELoader", "inputs": {"vae_name": TINY_VAE}},
        "image": {"class_type": "LoadImage", "inputs": {"image": reference}},
        "stock": {"class_type": stock, "inputs": {"clip": ["clip", 0], "prompt": PROMPT, "vae": ["vae", 0],
                                                  image_slot: ["image", 0]}},
        "joint": {"class_type": "SqueezeCLIPJointEncode",
                  "inputs": {"clip": ["clip", 0], "prompt": PROMPT, "image1": ["image", 0], **settings}},
        "aggregate": {"class_type": "SqueezeDLAAggregate", "inputs": {"features": ["joint", 0]}},
        "identity": {"class_type": "SqueezeVAEIdentityEncode",
                     "inputs": {"conditioning": ["aggregate", 0], "vae": ["vae", 0], "image1": ["image", 0],
                                "identity_resolution": 1024}},
        "save_stock": {"class_type": "SqueezeTestSaveConditioning",
                       "inputs": {"conditioning": ["stock", 0], "file_name": f"{stock}_stock"}},
        "save_pack": {"class_type": "SqueezeTestSaveConditioning",
                      "inputs": {"conditioning": ["identity", 0], "file_name": f"{stock}_pack"}},
    }


@pytest.mark.parametrize("stock", sorted(CASES))
def test_clip_joint_path_equals_stock_qwen_edit_encode(comfy_server, stock):
    size, settings = CASES[stock]
    reference = write_reference(comfy_server.base, f"clip_path_{size[0]}x{size[1]}.png", size=size)
    entry = comfy_server.run(_graph(stock, reference, settings))
    assert entry["status"]["status_str"] == "success", execution_error(entry)
    output = os.path.join(comfy_server.base, "output")
    expected = load_file(os.path.join(output, f"{stock}_stock.safetensors"))
    produced = load_file(os.path.join(output, f"{stock}_pack.safetensors"))

    assert sorted(produced) == sorted(expected)
    assert "0.reference_latents.0" in expected
    for name, value in expected.items():
        assert produced[name].shape == value.shape, name
        assert (produced[name] - value).abs().max().item() <= 1e-5, name
