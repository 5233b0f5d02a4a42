"""ComfyUI and the pack imported into this process (no server), for benchmarks and in-process checks.

ComfyUI must be told it runs on the CPU before anything imports ``comfy.model_management``, and its
``nodes`` module must win over the pack's ``nodes`` package, so ComfyUI's folder goes first on sys.path
and the pack is imported the way ComfyUI imports a custom node: a package (here ``squeeze_pack``) whose
modules use relative imports.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from types import ModuleType

from .comfyui_trees import PROJECT_ROOT, comfyui_path

PACK_MODULE = "squeeze_pack"


def import_comfyui(device: str = "cpu", attention: str = "default") -> None:
    """Put the ComfyUI under test on sys.path and set its device and attention options (``pytorch``: its GPU
    path; ``sub-quadratic``: its CPU default; ``default``: ComfyUI's own choice)."""
    sys.path.insert(0, comfyui_path())
    from comfy.cli_args import args

    args.cpu = device == "cpu"
    if attention == "pytorch":
        args.use_pytorch_cross_attention = True
    elif attention == "sub-quadratic":
        args.use_quad_cross_attention = True


def import_pack_module(name: str) -> ModuleType:
    """``name`` (e.g. ``nodes.engine.key_weights``) from the pack imported as ComfyUI would; import_comfyui first."""
    if PACK_MODULE not in sys.modules:
        spec = importlib.util.spec_from_file_location(PACK_MODULE, os.path.join(PROJECT_ROOT, "__init__.py"),
                                                      submodule_search_locations=[PROJECT_ROOT])
        pack = importlib.util.module_from_spec(spec)
        sys.modules[PACK_MODULE] = pack
        spec.loader.exec_module(pack)
    return importlib.import_module(f"{PACK_MODULE}.{name}")
