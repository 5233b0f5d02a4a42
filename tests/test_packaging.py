"""The pack as installers get it: the registry's own validator (comfy-cli) passes with no warning, the
library builds as a wheel holding the core and the shipped miniature only, and a ComfyUI environment that
never saw the pack loads every node and runs the main workflow after ComfyUI-Manager's install steps (the
nodes need no package ComfyUI lacks but a newer transformers; diffusers and accelerate serve the library)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
import zipfile

from tests.harness.installs import (
    comfy_cli, comfyui_only_environment, manager_install, overlay_environment, published_copy,
)
from tests.test_nodes_schema import NODES
from tools.comfyui_server import ComfyServer
from tools.comfyui_trees import PROJECT_ROOT
from tools.run_workflow import run_prompt, workflow_prompt, write_miniature_pictures

REGISTRY_NAME = re.compile(r"^[a-z][a-z0-9]*([._-][a-z0-9]+)*$")
UNPINNED = ("torch", "torchvision", "transformers")


def _project() -> dict:
    with open(os.path.join(PROJECT_ROOT, "pyproject.toml"), "rb") as handle:
        return tomllib.load(handle)


def test_comfy_node_validate_passes_clean(tmp_path):
    pack = published_copy(str(tmp_path / "ComfyUI-Squeeze"))
    checked = subprocess.run([comfy_cli(), "--skip-prompt", "--no-enable-telemetry", "node", "validate"], cwd=pack,
                             capture_output=True, text=True, timeout=300, env={**os.environ, "HOME": str(tmp_path)})
    output = checked.stdout + checked.stderr
    assert checked.returncode == 0, output
    assert "All validation checks passed" in output, output
    assert "warning" not in output.lower(), output


def test_names_and_requirements_suit_the_registry_and_the_manager():
    project = _project()
    assert REGISTRY_NAME.match(project["project"]["name"]) and len(project["project"]["name"]) <= 100
    assert "comfyui" not in project["project"]["name"]
    with open(os.path.join(PROJECT_ROOT, "requirements.txt")) as handle:
        lines = [line.strip() for line in handle if line.strip()]
    named = {re.split(r"[<>=!~\[ ]", line)[0].lower() for line in lines}
    assert not named & {"torch", "torchvision", "torchaudio"}, "ComfyUI provides torch; the Manager skips it"
    for line in lines + project["project"]["dependencies"]:
        if re.split(r"[<>=!~\[ ]", line)[0].lower() in UNPINNED:
            assert "==" not in line and "<" not in line, f"{line}: no pin or upper bound on what ComfyUI shares"
    runtime = {re.split(r"[<>=!~\[ ]", line)[0].lower() for line in project["project"]["dependencies"]}
    assert named <= runtime, "requirements.txt installs what the package declares"
    assert {"numpy", "pillow", "safetensors", "transformers"} <= named
    assert any(line.startswith("accelerate") for line in project["project"]["optional-dependencies"]["train"])


def test_wheel_holds_the_core_and_the_shipped_miniature(tmp_path):
    source = published_copy(str(tmp_path / "source"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(tmp_path),
                    source], check=True, capture_output=True, text=True, timeout=600)
    (wheel,) = tmp_path.glob("squeeze_subject-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "squeeze_core/pipeline.py" in names and "squeeze_core/files/dla.py" in names
    assert any(name.startswith("squeeze_core/miniature/weights/diffusion_models/") for name in names)
    assert not [name for name in names if name.split("/")[0] in ("tests", "tools", "nodes", "scripts")]


def test_manager_style_install_loads_every_node(comfyui_tree, tmp_path):
    environment = comfyui_only_environment(comfyui_tree.path)
    python = overlay_environment(environment, str(tmp_path / "environment"))
    pack = published_copy(str(tmp_path / "clone" / "ComfyUI-Squeeze"))
    assert manager_install(python, pack)
    base = tmp_path / "base"
    write_miniature_pictures(str(base / "input"))
    server = ComfyServer(str(base), python=python, pack=pack).start()
    try:
        listed = server.get("/object_info")
        assert sorted(set(NODES) - set(listed)) == [], server.log_tail()
        assert "IMPORT FAILED" not in server.log_text(), server.log_tail()
        (image,) = run_prompt(server, workflow_prompt(server, os.path.join(pack, "workflows", "squeeze_miniature.json")))
    finally:
        server.stop()
    assert os.path.getsize(image) > 0
