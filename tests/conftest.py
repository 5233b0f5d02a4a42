"""Shared fixtures: tiny MLLM folders of the real architectures, built once per session."""

from __future__ import annotations

import os

import pytest

from squeeze_core.joint_encoder import JointEncoder
from squeeze_core.tiny_models import FAMILIES, TinyMLLMSpec, build_tiny_mllm

TEST_NODES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "comfy_nodes", "squeeze_test_nodes")


@pytest.fixture(scope="session")
def tiny_mllm_root(tmp_path_factory):
    return tmp_path_factory.mktemp("tiny_mllm")


@pytest.fixture(scope="session")
def tiny_mllm_folder(tiny_mllm_root):
    def build(family: str = "qwen2_5_vl") -> str:
        return build_tiny_mllm(tiny_mllm_root / family, TinyMLLMSpec(family=family))

    return build


@pytest.fixture(scope="session", params=FAMILIES)
def encoder(request, tiny_mllm_folder) -> JointEncoder:
    return JointEncoder.from_folder(tiny_mllm_folder(request.param))


@pytest.fixture(scope="session")
def qwen25_encoder(tiny_mllm_folder) -> JointEncoder:
    return JointEncoder.from_folder(tiny_mllm_folder("qwen2_5_vl"))


@pytest.fixture(scope="session")
def comfy_server(tmp_path_factory):
    """A real ComfyUI server (the cached 0.3.75 tree, or $COMFYUI_PATH) with this pack linked in."""
    from tests.harness.server import ComfyServer

    base = tmp_path_factory.mktemp("comfyui_base")
    build_tiny_mllm(base / "models" / "mllm" / "tiny-qwen2.5-vl", TinyMLLMSpec(family="qwen2_5_vl"))
    server = ComfyServer(str(base), extra_nodes=[TEST_NODES]).start()
    yield server
    server.stop()
