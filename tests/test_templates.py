"""ComfyUI's template browser lists every example workflow of the pack, each with its thumbnail, and the
pictures in the repository show the workflows as they are now."""

from __future__ import annotations

import json
import os

import pytest

from tools.comfyui_server import PACK_NAME, PACK_ROOT
from tools.pictures import picture_digests, screenshot_path, workflow_digest
from tools.run_workflow import MAIN_WORKFLOW, workflow_files

NAMES = sorted(os.path.basename(path)[: -len(".json")] for path in workflow_files())


def test_template_index_lists_every_workflow(comfy_server):
    assert sorted(comfy_server.get("/workflow_templates")[PACK_NAME]) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_template_and_thumbnail_are_served(comfy_server, name):
    status, _, body = comfy_server.fetch(f"/api/workflow_templates/{PACK_NAME}/{name}.json")
    assert status == 200
    with open(os.path.join(PACK_ROOT, "workflows", f"{name}.json"), encoding="utf-8") as handle:
        assert json.loads(body) == json.load(handle)
    status, kind, body = comfy_server.fetch(f"/api/workflow_templates/{PACK_NAME}/{name}.jpg")
    assert status == 200 and kind == "image/jpeg" and body[:2] == b"\xff\xd8"


@pytest.mark.parametrize("path", workflow_files(), ids=os.path.basename)
def test_pictures_show_the_current_workflow(path):
    digest = workflow_digest(path)
    stale = {kind: found for kind, found in picture_digests(path).items() if found != digest}
    assert not stale, (f"{os.path.basename(path)} changed since its pictures were taken: rerun the browser tests "
                       f"with SQUEEZE_WRITE_PICTURES=1")


def test_readme_shows_the_main_workflow_screenshot():
    with open(os.path.join(PACK_ROOT, "README.md"), encoding="utf-8") as handle:
        readme = handle.read()
    assert os.path.relpath(screenshot_path(MAIN_WORKFLOW), PACK_ROOT) in readme
