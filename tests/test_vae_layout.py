"""A Qwen-Image VAE trained with diffusers, renamed to the Wan 2.1 layout, loads in ComfyUI's stock
VAELoader and encodes exactly as diffusers does."""

from __future__ import annotations

import os

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file

from squeeze_core.files.vae_layout import qwen_vae_to_wan_layout
from squeeze_core.tiny_vae import build_tiny_vae
from tests.harness.graphs import write_reference
from tools.comfyui_server import execution_error, saved_latents


def test_renamed_vae_loads_in_the_stock_loader_and_encodes_like_diffusers(comfy_server):
    vae = build_tiny_vae().eval()
    with torch.no_grad():
        for name, parameter in vae.named_parameters():
            if "gamma" not in name:
                parameter.normal_(0.0, 0.1)
    renamed = qwen_vae_to_wan_layout(vae.state_dict(), vae.config.num_res_blocks)
    assert len(renamed) == len(vae.state_dict())
    save_file({name: value.contiguous() for name, value in renamed.items()},
              comfy_server.models("vae", "squeeze_tiny_vae.safetensors"))
    reference = write_reference(comfy_server.base, "vae_subject.png", size=(64, 48))
    entry = comfy_server.run({
        "vae": {"class_type": "VAELoader", "inputs": {"vae_name": "squeeze_tiny_vae.safetensors"}},
        "image": {"class_type": "LoadImage", "inputs": {"image": reference}},
        "encode": {"class_type": "VAEEncode", "inputs": {"pixels": ["image", 0], "vae": ["vae", 0]}},
        "save": {"class_type": "SaveLatent", "inputs": {"samples": ["encode", 0], "filename_prefix": "vae_layout"}},
    })
    assert entry["status"]["status_str"] == "success", execution_error(entry)
    in_comfyui = saved_latents(comfy_server, entry)["save"]
    with Image.open(os.path.join(comfy_server.base, "input", reference)) as image:
        pixels = torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0)
    with torch.no_grad():
        expected = vae.encode(pixels.permute(2, 0, 1)[None, :, None] * 2 - 1).latent_dist.mode()
    assert in_comfyui.shape == expected.shape and expected.abs().max().item() > 1e-2
    assert (in_comfyui - expected).abs().max().item() <= 1e-4
