"""The test server: a real ComfyUI of the tree under test with the pack and the test-only nodes linked in, and
the tiny MLLM and VAE the test graphs load in its model folders."""

from __future__ import annotations

import os
from pathlib import Path

from squeeze_core.files import save_vae
from squeeze_core.tiny_models import TinyMLLMSpec, build_tiny_mllm
from squeeze_core.tiny_vae import build_tiny_vae
from tests.harness.graphs import TINY_MLLM, TINY_VAE
from tools.comfyui_server import ComfyServer

TEST_NODES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "comfy_nodes",
                          "squeeze_test_nodes")


def start_test_server(base: Path) -> ComfyServer:
    build_tiny_mllm(base / "models" / "mllm" / TINY_MLLM, TinyMLLMSpec(family="qwen2_5_vl"))
    (base / "models" / "vae").mkdir(parents=True, exist_ok=True)
    save_vae(build_tiny_vae(), base / "models" / "vae" / TINY_VAE)
    return ComfyServer(str(base), extra_nodes=[TEST_NODES]).start()
