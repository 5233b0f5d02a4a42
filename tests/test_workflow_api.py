"""The UI-to-API converter against the real server's /object_info: widget order with the extra saved values
(seed control, upload button), links, notes, reroutes, primitives, bypassed and muted nodes."""

from __future__ import annotations

import pytest

from tools.workflow_api import WorkflowError, workflow_to_prompt


def _node(node_id, node_type, widgets=(), inputs=(), mode=0):
    return {"id": node_id, "type": node_type, "mode": mode, "widgets_values": list(widgets),
            "inputs": [{"name": name, "type": kind, "link": link} for name, kind, link in inputs]}


@pytest.fixture(scope="module")
def object_info(comfy_server):
    return comfy_server.get("/object_info")


def test_widgets_links_and_ui_only_nodes(object_info):
    workflow = {
        "nodes": [
            _node(1, "LoadImage", ["subject.png", "image"]),
            _node(2, "Reroute", inputs=[("", "*", 1)]),
            _node(3, "ImageInvert", inputs=[("image", "IMAGE", 2)], mode=4),
            _node(4, "PrimitiveNode", [512]),
            _node(5, "EmptySD3LatentImage", [256, 256, 1], inputs=[("width", "INT", 3)]),
            _node(6, "KSampler", [42, "randomize", 9, 2.5, "euler", "karras", 0.8],
                  inputs=[("latent_image", "LATENT", 4)]),
            _node(7, "SaveImage", ["out"], inputs=[("images", "IMAGE", 5)]),
            _node(8, "MarkdownNote", ["# read me"]),
            _node(9, "ImageInvert", inputs=[("image", "IMAGE", 6)], mode=2),
        ],
        "links": [[1, 1, 0, 2, 0, "IMAGE"], [2, 2, 0, 3, 0, "IMAGE"], [3, 4, 0, 5, 0, "INT"],
                  [4, 5, 0, 6, 3, "LATENT"], [5, 3, 0, 7, 0, "IMAGE"], [6, 1, 0, 9, 0, "IMAGE"]],
    }
    prompt = workflow_to_prompt(workflow, object_info)
    assert sorted(prompt, key=int) == ["1", "5", "6", "7"]
    assert prompt["1"]["inputs"] == {"image": "subject.png"}
    assert prompt["5"]["inputs"] == {"width": 512, "height": 256, "batch_size": 1}
    assert prompt["6"]["inputs"] == {"seed": 42, "steps": 9, "cfg": 2.5, "sampler_name": "euler",
                                     "scheduler": "karras", "latent_image": ["5", 0], "denoise": 0.8}
    assert prompt["7"]["inputs"] == {"images": ["1", 0], "filename_prefix": "out"}
    assert prompt["7"]["_meta"]["title"] == "Save Image"


def test_a_node_the_server_lacks_is_named(object_info):
    workflow = {"nodes": [_node(1, "SomePackNode", [1])], "links": []}
    with pytest.raises(WorkflowError, match="node 1 is a 'SomePackNode'.*install"):
        workflow_to_prompt(workflow, object_info)
