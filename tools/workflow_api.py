"""UI-format workflows (what ComfyUI saves and artists share) into API-format prompts, as the frontend does.

The UI format stores widget values as a list in the order of the node's widget inputs, with one
extra saved value after a seed's "control after generate" and after an image combo's upload
button; a widget the workflow has no value for (one added to the node since it was saved) takes
its default, as the frontend gives it; links are [id, origin node, origin slot, target node, target slot, type]. Notes are
dropped, reroutes and bypassed nodes are passed through, muted nodes leave their inputs empty.
"""

from __future__ import annotations

import json
import os

WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
UI_ONLY_NODES = {"Note", "MarkdownNote"}
MUTED, BYPASSED = 2, 4


class WorkflowError(ValueError):
    pass


def load_workflow(path: str | os.PathLike) -> dict:
    with open(path, encoding="utf-8") as handle:
        workflow = json.load(handle)
    if not isinstance(workflow.get("nodes"), list) or "links" not in workflow:
        raise WorkflowError(f"{os.path.basename(path)} is not a UI-format workflow (no 'nodes' and 'links')")
    return workflow


def _input_order(info: dict) -> list[tuple[str, list]]:
    specs = {**info["input"].get("required", {}), **info["input"].get("optional", {})}
    order = info.get("input_order") or {key: list(info["input"].get(key, {})) for key in ("required", "optional")}
    return [(name, specs[name]) for group in ("required", "optional") for name in order.get(group, [])]


def _is_widget(spec: list) -> bool:
    return isinstance(spec[0], list) or spec[0] in WIDGET_TYPES


def _widget_default(spec: list):
    """What the frontend puts in a widget the saved workflow has no value for (None: nothing)."""
    options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
    if "default" in options:
        return options["default"]
    choices = spec[0] if isinstance(spec[0], list) else options.get("options")
    return choices[0] if choices else None


def _saved_values_per_widget(spec: list) -> int:
    options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
    return 1 + bool(options.get("control_after_generate")) + bool(options.get("image_upload"))


def _link_table(workflow: dict) -> dict[int, tuple[int, int, str]]:
    table = {}
    for link in workflow["links"]:
        if isinstance(link, dict):
            table[link["id"]] = (link["origin_id"], link["origin_slot"], link.get("type", "*"))
        else:
            table[link[0]] = (link[1], link[2], link[5] if len(link) > 5 else "*")
    return table


class _Converter:
    def __init__(self, workflow: dict, object_info: dict):
        self.nodes = {node["id"]: node for node in workflow["nodes"]}
        self.links = _link_table(workflow)
        self.object_info = object_info

    def source(self, link_id: int, seen: frozenset = frozenset()):
        """What feeds a link: [node id, slot], a literal from a primitive node, or None (muted)."""
        if link_id in seen:
            raise WorkflowError(f"link {link_id} loops through reroutes or bypassed nodes")
        origin_id, slot, kind = self.links[link_id]
        origin = self.nodes[origin_id]
        if origin["type"] == "PrimitiveNode":
            return origin["widgets_values"][0]
        if origin["type"] == "Reroute":
            upstream = origin["inputs"][0].get("link")
            return None if upstream is None else self.source(upstream, seen | {link_id})
        mode = origin.get("mode", 0)
        if mode == MUTED:
            return None
        if mode == BYPASSED:
            for entry in origin.get("inputs", []):
                if entry.get("link") is not None and entry.get("type") in (kind, "*"):
                    return self.source(entry["link"], seen | {link_id})
            return None
        return [str(origin_id), slot]

    def node(self, node: dict) -> dict:
        info = self.object_info.get(node["type"])
        if info is None:
            raise WorkflowError(
                f"node {node['id']} is a '{node['type']}', which this ComfyUI does not have: install the custom "
                f"node pack that provides it"
            )
        saved = node.get("widgets_values", [])
        linked = {entry["name"]: entry["link"] for entry in node.get("inputs", []) if entry.get("link") is not None}
        inputs, position = {}, 0
        for name, spec in _input_order(info):
            if _is_widget(spec):
                if isinstance(saved, dict) and name in saved:
                    inputs[name] = saved[name]
                elif not isinstance(saved, dict) and position < len(saved):
                    inputs[name] = saved[position]
                    position += _saved_values_per_widget(spec)
                elif _widget_default(spec) is not None:
                    inputs[name] = _widget_default(spec)
            if name in linked:
                value = self.source(linked[name])
                if value is not None:
                    inputs[name] = value
        return {"inputs": inputs, "class_type": node["type"],
                "_meta": {"title": node.get("title") or info.get("display_name") or node["type"]}}


def workflow_to_prompt(workflow: dict, object_info: dict) -> dict:
    """The API-format prompt that queueing this workflow sends, given the server's /object_info."""
    converter = _Converter(workflow, object_info)
    prompt = {}
    for node in sorted(workflow["nodes"], key=lambda item: item["id"]):
        if node["type"] in UI_ONLY_NODES | {"PrimitiveNode", "Reroute"} or node.get("mode", 0) in (MUTED, BYPASSED):
            continue
        prompt[str(node["id"])] = converter.node(node)
    return prompt
