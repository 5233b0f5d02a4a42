"""One help page per node (web/docs/<node id>.md), matching the live schema and served where ComfyUI's
node help panel looks for it."""

from __future__ import annotations

import os

import pytest

from tools.node_docs import DOCS_DIR, TIPS, pack_nodes, page_path, render_schema_part, split_page
from tools.comfyui_server import PACK_NAME


@pytest.fixture(scope="module")
def nodes(comfy_server):
    return pack_nodes(comfy_server.get("/object_info"))


def test_a_page_for_every_node_and_no_other(nodes):
    assert len(nodes) >= 9
    pages = sorted(name[: -len(".md")] for name in os.listdir(DOCS_DIR) if name.endswith(".md"))
    assert pages == sorted(nodes)


def test_pages_match_the_schemas_and_have_tips(nodes):
    for node_id, info in nodes.items():
        with open(page_path(node_id), encoding="utf-8") as handle:
            schema_part, tips = split_page(handle.read())
        assert schema_part == render_schema_part(node_id, info), (
            f"{node_id}.md is out of date: run python -m tools.node_docs")
        assert tips.startswith(TIPS) and tips.count("\n- ") >= 3, f"{node_id}.md needs at least three tips"


def test_the_help_panel_url_serves_each_page(comfy_server, nodes):
    for node_id in nodes:
        status, _, body = comfy_server.fetch(f"/extensions/{PACK_NAME}/docs/{node_id}.md")
        assert status == 200, node_id
        with open(page_path(node_id), encoding="utf-8") as handle:
            assert body.decode() == handle.read()
