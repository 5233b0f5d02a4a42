"""The pack's model folders, registered with ComfyUI so extra_model_paths.yaml entries are kept, and the
trained miniature's files, listed in the loaders wherever the pack is installed."""

from __future__ import annotations

import os

import folder_paths

from ..squeeze_core.miniature.spec import SHIPPED

MLLM_FOLDER = "mllm"
DLA_FOLDER = "squeeze_dla"


def register_model_folders() -> None:
    for name, extensions in ((MLLM_FOLDER, set()), (DLA_FOLDER, {".safetensors"})):
        folder_paths.add_model_folder_path(name, os.path.join(folder_paths.models_dir, name), is_default=True)
        paths, _ = folder_paths.folder_names_and_paths[name]
        folder_paths.folder_names_and_paths[name] = (paths, extensions)
    for name in (MLLM_FOLDER, DLA_FOLDER, "diffusion_models", "vae"):
        folder_paths.add_model_folder_path(name, os.path.join(SHIPPED.root, name))


def list_mllm_folders() -> list[str]:
    """Sub-folders of every registered mllm path (the loader says what a folder lacks)."""
    found = set()
    for root in folder_paths.get_folder_paths(MLLM_FOLDER):
        if os.path.isdir(root):
            found.update(name for name in os.listdir(root) if os.path.isdir(os.path.join(root, name)))
    return sorted(found)


def mllm_folder_path(name: str) -> str | None:
    for root in folder_paths.get_folder_paths(MLLM_FOLDER):
        candidate = os.path.join(root, name)
        if os.path.isdir(candidate):
            return candidate
    return None
