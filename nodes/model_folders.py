"""The pack's model folders, registered with ComfyUI so extra_model_paths.yaml entries are kept, and the
trained miniature's files, listed in the loaders wherever the pack is installed."""

from __future__ import annotations

import os

import folder_paths

from ..squeeze_core.miniature.shipped import SHIPPED

MLLM_FOLDER = "mllm"
DLA_FOLDER = "squeeze_dla"
SCORER_FOLDER = "squeeze_scorers"
"""Scoring models (DINO, CLIP, SigLIP), one Hugging Face folder each, for Squeeze Rank by Subject."""
SUBJECT_FOLDER = "squeeze_subjects"
"""Encoded subjects: models/squeeze_subjects, and output/squeeze_subjects, where Squeeze Subject Save writes."""


def register_model_folders() -> None:
    for name, extensions in ((MLLM_FOLDER, set()), (SCORER_FOLDER, set()), (DLA_FOLDER, {".safetensors"}),
                             (SUBJECT_FOLDER, {".safetensors"})):
        folder_paths.add_model_folder_path(name, os.path.join(folder_paths.models_dir, name), is_default=True)
        paths, _ = folder_paths.folder_names_and_paths[name]
        folder_paths.folder_names_and_paths[name] = (paths, extensions)
    folder_paths.add_model_folder_path(SUBJECT_FOLDER, os.path.join(folder_paths.get_output_directory(), SUBJECT_FOLDER))
    for name in (MLLM_FOLDER, DLA_FOLDER, SCORER_FOLDER, "diffusion_models", "vae"):
        folder_paths.add_model_folder_path(name, os.path.join(SHIPPED.root, name))


def list_model_folders(kind: str) -> list[str]:
    """Sub-folders of every registered path of ``kind`` (MLLM_FOLDER, SCORER_FOLDER); the loader says what a
    folder lacks."""
    found = set()
    for root in folder_paths.get_folder_paths(kind):
        if os.path.isdir(root):
            found.update(name for name in os.listdir(root) if os.path.isdir(os.path.join(root, name)))
    return sorted(found)


def is_plain_name(name: str) -> bool:
    """One path component, never leading out of the folder: no absolute path, no separator, no '.' or '..'
    (a symlink inside a model folder is still a plain name, and is followed)."""
    return (isinstance(name, str) and name not in ("", ".", "..") and "/" not in name and "\\" not in name
            and not os.path.isabs(name) and os.path.splitdrive(name)[0] == "")


def model_folder_path(kind: str, name: str) -> str | None:
    """The folder ``name`` in one of the registered paths of ``kind``; None for a name that is not a plain folder
    name there (a shared workflow must never read outside the user's model folders)."""
    if not is_plain_name(name):
        return None
    for root in folder_paths.get_folder_paths(kind):
        candidate = os.path.join(root, name)
        if os.path.isdir(candidate):
            return candidate
    return None
