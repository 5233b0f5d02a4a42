"""Shared fixtures: tiny MLLM folders of the real architectures, built once per session; the ComfyUI
under test. A test that needs ComfyUI (a server or its modules) asks for the ``comfyui_tree`` fixture,
directly or through another, and is marked ``comfyui``: ``-m "not comfyui"`` runs the core alone."""

from __future__ import annotations

from importlib import metadata

import pytest

from squeeze_core.joint_encoder import JointEncoder
from squeeze_core.tiny_models import FAMILIES, TinyMLLMSpec, build_tiny_mllm
from tests.harness.servers import start_test_server
from tools.comfyui_trees import ComfyUITree, default_tree



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


def _frontend_version() -> str:
    try:
        return metadata.version("comfyui-frontend-package")
    except metadata.PackageNotFoundError:
        return "not installed"


def _tested_comfyui() -> str:
    tree = default_tree()
    return f"ComfyUI {tree.version} (frontend {_frontend_version()}) at {tree.path}"


def pytest_report_header(config) -> str:
    return _tested_comfyui()


def pytest_collection_modifyitems(items) -> None:
    for item in items:
        if "comfyui_tree" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.comfyui)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.failed and item.get_closest_marker("comfyui") is not None:
        report.sections.append(("ComfyUI under test", _tested_comfyui()))
    return report


@pytest.fixture(scope="session")
def comfyui_tree() -> ComfyUITree:
    """The ComfyUI this run tests: $COMFYUI_PATH (scripts/test.sh sets it per version), else 0.3.75."""
    return default_tree()


@pytest.fixture(scope="session")
def comfy_server(tmp_path_factory, comfyui_tree):
    """A real ComfyUI server of the tree under test with this pack linked in."""
    server = start_test_server(tmp_path_factory.mktemp("comfyui_base"))
    yield server
    server.stop()
