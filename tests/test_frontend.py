"""Every workflow in the real ComfyUI frontend, in headless Chromium: it loads with no missing node, the
pack's nodes show their names and saved values, no error dialog opens, the frontend's API prompt equals
the harness converter's, and queued from the page it runs and shows up in the page's history.

Screenshots of each loaded graph go to $SQUEEZE_SCREENSHOTS (default: a temporary folder); with
SQUEEZE_WRITE_PICTURES=1 the README screenshots and the template thumbnails are rewritten from them.
"""

from __future__ import annotations

import json
import os
import time
import warnings

import pytest

from tests.harness.servers import TEST_NODES
from tests.harness.browser import Chromium
from tests.harness.examples import TINY_CLIP
from tools.run_workflow import start_example_server, workflow_files
from tools.pictures import write_pictures
from tools.workflow_api import load_workflow, workflow_to_prompt

READY = "window.app && window.app.graph && window.LiteGraph && Object.keys(LiteGraph.registered_node_types).length"


@pytest.fixture(scope="module")
def frontend(tmp_path_factory, comfyui_tree):
    server = start_example_server(str(tmp_path_factory.mktemp("frontend_base")), extra_nodes=[TEST_NODES])
    browser = None
    try:
        for setting, value in (("Comfy.TutorialCompleted", True), ("Comfy.Minimap.Visible", False)):
            status, body = server.request(f"/settings/{setting}", value)
            assert status == 200, body
        browser = Chromium(width=2560, height=1360)
        browser.goto(server.url)
        browser.wait_for(READY, 120)
        browser.evaluate("localStorage.setItem('vueNodesBannerDismissed', 'true')")
        browser.goto(server.url)
        browser.wait_for(READY, 120)
        yield server, browser
    finally:
        if browser is not None:
            browser.close()
        server.stop()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory):
    folder = os.environ.get("SQUEEZE_SCREENSHOTS") or str(tmp_path_factory.mktemp("screenshots"))
    os.makedirs(folder, exist_ok=True)
    return folder


def _load(browser: Chromium, workflow: dict, name: str) -> list[dict]:
    browser.evaluate(f"app.loadGraphData({json.dumps(workflow)}, true, true, {json.dumps(name)})")
    browser.wait_for(f"app.graph._nodes.length === {len(workflow['nodes'])}", 30)
    return browser.evaluate(
        "app.graph._nodes.map(n => ({id: n.id, type: n.type, title: n.title, "
        "registered: n.type in LiteGraph.registered_node_types, "
        "widgets: Object.fromEntries((n.widgets || []).map(w => [w.name, w.value]))}))")


def _queue_from_page(browser: Chromium, swap_clip: bool) -> str:
    if not swap_clip:
        browser.evaluate("app.queuePrompt(0, 1)")
        return ""
    script = f"""(async () => {{
        const prompt = await app.graphToPrompt();
        for (const id in prompt.output) {{
            if (prompt.output[id].class_type === 'CLIPLoader') {{
                prompt.output[id] = {{...{json.dumps(TINY_CLIP)}, _meta: prompt.output[id]._meta}};
            }}
        }}
        const queued = await app.api.queuePrompt(0, {{output: prompt.output, workflow: prompt.workflow}});
        return queued.prompt_id;
    }})()"""
    return browser.evaluate(script)


def _page_history(browser: Chromium) -> dict:
    """The page's own history by prompt id: status and image names. Frontends up to 1.3x read /history
    ({History: [{prompt, status, outputs}]}); 1.58 builds it from /jobs ([{id, status, preview_output}])."""
    return browser.evaluate("""app.api.getHistory(50).then(h => Object.fromEntries((Array.isArray(h) ? h : h.History)
        .map(item => Array.isArray(item.prompt)
            ? [item.prompt[1], {status: item.status && item.status.status_str, images: Object.values(item.outputs || {})
                .flatMap(o => (o.images || []).map(i => i.filename))}]
            : [item.id, {status: item.status === 'completed' ? 'success' : item.status,
                         images: item.preview_output ? [item.preview_output.filename] : []}])))""")


def _page_prompt(browser: Chromium) -> dict:
    """The frontend's API prompt; 1.58 adds the node pack's registry id and version to each ``_meta``."""
    output = browser.evaluate("app.graphToPrompt().then(p => p.output)")
    for node in output.values():
        for key in ("cnr_id", "ver"):
            node.get("_meta", {}).pop(key, None)
    return output


@pytest.mark.parametrize("path", workflow_files(), ids=os.path.basename)
def test_workflow_in_the_frontend(frontend, screenshots, path):
    server, browser = frontend
    name = os.path.basename(path)
    workflow = load_workflow(path)
    object_info = server.get("/object_info")
    shown = {str(node["id"]): node for node in _load(browser, workflow, name)}  # 1.58's ids are strings

    missing = [node["type"] for node in shown.values() if not node["registered"]]
    assert missing == [], f"missing nodes: {missing}"
    expected = workflow_to_prompt(workflow, object_info)
    for node in workflow["nodes"]:
        if not node["type"].startswith("Squeeze"):
            continue
        on_page = shown[str(node["id"])]
        assert on_page["title"] == object_info[node["type"]]["display_name"]
        for widget, value in expected[str(node["id"])]["inputs"].items():
            if not isinstance(value, list):
                assert on_page["widgets"][widget] == value, (node["type"], widget)
    dialogs = browser.evaluate("Array.from(document.querySelectorAll('.p-dialog')).map(d => d.innerText)")
    assert dialogs == [], dialogs
    assert browser.console_errors() == []

    assert _page_prompt(browser) == expected

    browser.evaluate("app.canvas.ds.scale = 1; app.extensionManager.command.execute('Comfy.Canvas.FitView')")
    browser.evaluate("new Promise(done => { app.canvas.setDirty(true, true); "
                     "requestAnimationFrame(() => requestAnimationFrame(done)); })")
    shot = browser.screenshot(os.path.join(screenshots, name.replace(".json", ".png")))
    if os.environ.get("SQUEEZE_WRITE_PICTURES") == "1":
        write_pictures(path, shot)

    swap = any(node["type"] == "CLIPLoader" for node in workflow["nodes"])
    if swap:
        warnings.warn(f"{name}: queued from the page with CLIPLoader swapped for the test-only tiny text encoder")
    known = set(server.get("/history"))
    prompt_id = _queue_from_page(browser, swap)
    deadline = time.monotonic() + 600
    while not prompt_id:
        new = set(server.get("/history")) - known
        prompt_id = next(iter(new), "")
        assert time.monotonic() < deadline, server.log_tail()
        time.sleep(0.5)
    entry = server.wait(prompt_id, timeout=600)
    assert entry["status"]["status_str"] == "success", entry["status"]
    page = _page_history(browser)
    assert page[prompt_id]["status"] == "success"
    assert page[prompt_id]["images"] and page[prompt_id]["images"][0].endswith(".png")
