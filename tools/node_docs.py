"""The pack's node pages (web/docs/<node id>.md, shown by ComfyUI's node help panel), from the live schemas.

Everything above the "## Tips" heading is rendered from the server's /object_info, so a page cannot
drift from its node; the tips below it are written by hand and kept when a page is rendered again.
``python -m tools.node_docs`` starts a server and rewrites the pages.
"""

from __future__ import annotations

import os
import sys
import tempfile

from .comfyui_server import PACK_ROOT, ComfyServer

DOCS_DIR = os.path.join(PACK_ROOT, "web", "docs")
TIPS = "## Tips"


def pack_nodes(object_info: dict) -> dict[str, dict]:
    return {node_id: info for node_id, info in sorted(object_info.items())
            if info.get("python_module", "").startswith("custom_nodes.") and node_id.startswith("Squeeze")
            and not node_id.startswith("SqueezeTest")}


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _input_rows(info: dict) -> list[str]:
    rows = []
    order = info.get("input_order", {})
    for group in ("required", "optional"):
        for name in order.get(group, []):
            spec = info["input"][group][name]
            options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
            kind = "COMBO" if isinstance(spec[0], list) else spec[0]
            default = options.get("default", "")
            default = "" if default == "" else f"`{default}`"
            optional = " (optional)" if group == "optional" else ""
            rows.append(f"| `{name}`{optional} | {kind} | {default} | {_cell(options.get('tooltip', ''))} |")
    return rows


def render_schema_part(node_id: str, info: dict) -> str:
    lines = [f"# {info['display_name']}", "", f"`{node_id}` · category `{info['category']}`", "",
             info["description"], "", "## Inputs", "", "| input | type | default | what it does |",
             "|---|---|---|---|", *_input_rows(info), "", "## Outputs", "", "| output | type | what it gives |",
             "|---|---|---|"]
    tooltips = info.get("output_tooltips") or [""] * len(info["output"])
    for name, kind, tooltip in zip(info["output_name"], info["output"], tooltips):
        lines.append(f"| `{name}` | {kind} | {_cell(tooltip or '')} |")
    return "\n".join(lines) + "\n\n"


def page_path(node_id: str) -> str:
    return os.path.join(DOCS_DIR, f"{node_id}.md")


def split_page(text: str) -> tuple[str, str]:
    """(schema part, tips part starting at the Tips heading)."""
    index = text.find(TIPS)
    return (text, "") if index < 0 else (text[:index], text[index:])


def write_pages(object_info: dict) -> list[str]:
    os.makedirs(DOCS_DIR, exist_ok=True)
    written = []
    for node_id, info in pack_nodes(object_info).items():
        path = page_path(node_id)
        tips = f"{TIPS}\n\n- \n"
        if os.path.exists(path):
            with open(path, encoding="utf-8") as handle:
                tips = split_page(handle.read())[1] or tips
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(render_schema_part(node_id, info) + tips)
        written.append(path)
    return written


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="squeeze-docs-") as base:
        server = ComfyServer(base).start()
        try:
            for path in write_pages(server.get("/object_info")):
                print(path)
        finally:
            server.stop()


if __name__ == "__main__":
    sys.exit(main())
