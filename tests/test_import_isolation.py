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


def test_the_entry_point_imports_as_a_plain_module():
    """How pytest imports it from a checkout named ``ComfyUI-Squeeze`` (not a Python name): no package, so no
    relative import; the entry point is absent and the file still imports."""
    code = (
        "import importlib.util\n"
        "spec = importlib.util.spec_from_file_location('__init__', '__init__.py')\n"
        "pack = importlib.util.module_from_spec(spec); spec.loader.exec_module(pack)\n"
        "assert pack.comfy_entrypoint is None and pack.WEB_DIRECTORY == './web'\n"
    )
    _modules_after(code)


def _imports(path: str) -> set[str]:
    """Every module a file imports, relative imports resolved against the project root."""
    import ast

    package = os.path.relpath(os.path.dirname(path), ROOT).replace(os.sep, ".")
    found = set()
    for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            found.add(".".join([*base, node.module or ""]).strip("."))
    return found


def _python_files(folder: str) -> list[str]:
    return [os.path.join(root, name) for root, _, names in os.walk(os.path.join(ROOT, folder))
            for name in names if name.endswith(".py")]


def test_imports_run_one_way():
    """squeeze_core stands alone; nodes stand on it; node engine code never reaches back into node classes;
    tools serve the product and never import the tests."""
    rules = {
        "squeeze_core": ("nodes", "tools", "tests", *COMFY_PREFIXES),
        "nodes": ("tools", "tests"),
        "tools": ("tests", "nodes"),
        "scripts": ("tests",),
    }
    broken = []
    for folder, forbidden in rules.items():
        for path in _python_files(folder):
            for module in _imports(path):
                if module.split(".")[0] in forbidden:
                    broken.append(f"{os.path.relpath(path, ROOT)} imports {module}")
    engine_allowed = ("nodes.engine", "nodes.types", "nodes.errors", "squeeze_core")
    for path in _python_files(os.path.join("nodes", "engine")):
        broken += [f"{os.path.relpath(path, ROOT)} imports {module}" for module in _imports(path)
                   if module.startswith(("nodes", "squeeze_core")) and not module.startswith(engine_allowed)]
    assert broken == []
