"""Environments and copies for the install tests: comfy-cli in its own cached environment, the pack as the
registry and ComfyUI-Manager get it (the tracked files), and a user's ComfyUI environment the pack is installed
into without touching the cached one."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import venv

from tools.comfyui_trees import PROJECT_ROOT, cache_dir

COMFY_CLI = ("comfy-cli==1.23.0", "ruff==0.17.6")


def _pip(python: str, *arguments: str) -> None:
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *arguments],
                   check=True, capture_output=True, text=True)


def comfy_cli() -> str:
    """The ``comfy`` command of a cached environment holding comfy-cli and the ruff it runs."""
    folder = os.path.join(cache_dir(), "tool-" + "-".join(COMFY_CLI).replace("==", "-"))
    if not os.path.isfile(os.path.join(folder, ".complete")):
        shutil.rmtree(folder, ignore_errors=True)
        venv.create(folder, with_pip=True)
        _pip(os.path.join(folder, "bin", "python"), *COMFY_CLI)
        open(os.path.join(folder, ".complete"), "w").close()
    return os.path.join(folder, "bin", "comfy")


def published_copy(target: str) -> str:
    """The pack's files as a commit of the working tree would hold them (tracked, and new ones git does not
    ignore): what a clone or a registry archive gets, copied into ``target``."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=PROJECT_ROOT, check=True, capture_output=True)
    for name in filter(None, listed.stdout.decode().split("\0")):
        source = os.path.join(PROJECT_ROOT, name)
        if os.path.isfile(source):
            os.makedirs(os.path.dirname(os.path.join(target, name)), exist_ok=True)
            shutil.copy2(source, os.path.join(target, name))
    return target


def comfyui_only_environment(tree: str) -> str:
    """The cached environment of ``tree`` alone: ComfyUI's requirements and torch, not the pack's."""
    script = os.path.join(PROJECT_ROOT, "scripts", "venv.sh")
    built = subprocess.run(["bash", script, "--comfyui-only", tree], check=True, capture_output=True, text=True)
    return built.stdout.strip().splitlines()[-1]


def overlay_environment(base: str, target: str) -> str:
    """A new environment that sees ``base``'s packages behind its own, so installing into it leaves ``base``
    as it was; returns its Python."""
    venv.create(target, with_pip=True)
    (own,) = glob.glob(os.path.join(target, "lib", "python3*", "site-packages"))
    (under,) = glob.glob(os.path.join(base, "lib", "python3*", "site-packages"))
    with open(os.path.join(own, "comfyui_environment.pth"), "w") as handle:
        handle.write(under + "\n")
    return os.path.join(target, "bin", "python")


def manager_install(python: str, pack: str) -> list[str]:
    """What ComfyUI-Manager does after cloning a pack: ``pip install`` of each line of its requirements.txt,
    comments and blank lines skipped, one line at a time. Returns the lines it installed."""
    with open(os.path.join(pack, "requirements.txt")) as handle:
        lines = [line.strip() for line in handle if line.strip() and not line.strip().startswith("#")]
    for line in lines:
        _pip(python, line)
    return lines
