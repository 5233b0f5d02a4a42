"""squeeze_core must stay usable without ComfyUI; the pack's entry point must import outside it."""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

COMFY_PREFIXES = ("comfy", "comfy_api", "comfy_extras", "folder_paths", "node_helpers", "latent_preview", "server")


def _modules_after(code: str) -> list[str]:
    script = code + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_import_squeeze_core_loads_no_comfyui_module():
    loaded = _modules_after("import squeeze_core")
    assert "squeeze_core" in loaded
    leaked = [name for name in loaded if name.split(".")[0] in COMFY_PREFIXES]
    assert leaked == []


def test_pack_entry_point_imports_outside_comfyui():
    code = (
        "import importlib.util, sys\n"
        "spec = importlib.util.spec_from_file_location('squeeze_pack', '__init__.py', "
        "submodule_search_locations=['.'])\n"
        "pack = importlib.util.module_from_spec(spec); sys.modules['squeeze_pack'] = pack\n"
        "spec.loader.exec_module(pack)\n"
        "assert pack.comfy_entrypoint is None\n"
    )
    loaded = _modules_after(code)
    assert "squeeze_pack" in loaded
