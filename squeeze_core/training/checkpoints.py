"""Checkpoints that resume a run exactly, written as safetensors and JSON (nothing pickled): the trained
parameters, the optimiser's moments, the step and the settings. Data order, noise and learning rate are functions
of the step (samples.py, settings.py), so nothing else is needed. Tensors are written whole (gathered from every
process where FSDP splits them) and split again on loading, so a run resumes with or without FSDP."""

from __future__ import annotations

import json
import os
import shutil

import torch
from safetensors.torch import load_file, save_file

from .settings import TrainingSettings, TrainingSettingsError
from .sharding import gathered, split_like

FOLDER = "checkpoints"
KEEP = 2
"""Checkpoints kept; older ones are deleted once a newer one is whole."""


def checkpoint_folder(out: str, step: int) -> str:
    return os.path.join(out, FOLDER, f"step-{step:08d}")


def _complete_checkpoints(root: str) -> list[str]:
    """The whole checkpoints under ``root``, oldest first (a ``.partial`` folder is one cut short while written)."""
    if not os.path.isdir(root):
        return []
    return sorted(name for name in os.listdir(root) if name.startswith("step-") and not name.endswith(".partial"))


def latest_checkpoint(out: str) -> str | None:
    root = os.path.join(out, FOLDER)
    done = _complete_checkpoints(root)
    return os.path.join(root, done[-1]) if done else None


def _optimizer_tensors(optimizer: torch.optim.Optimizer, keep: bool) -> tuple[dict[str, torch.Tensor], dict]:
    state = optimizer.state_dict()
    tensors = gathered(((f"{index}.{key}", value) for index, entries in state["state"].items()
                        for key, value in entries.items() if torch.is_tensor(value)), keep)
    scalars = {f"{index}.{key}": value for index, entries in state["state"].items() for key, value in entries.items()
               if not torch.is_tensor(value)}
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def save_checkpoint(out: str, step: int, parameters: dict[str, torch.nn.Parameter],
                    optimizer: torch.optim.Optimizer, settings: TrainingSettings, *, write: bool) -> str:
    """Write the checkpoint after ``step`` optimiser steps (atomically), then drop all but the newest ``KEEP``.
    Every process calls it; only the one with ``write`` writes."""
    folder = checkpoint_folder(out, step)
    trained = gathered(parameters.items(), write)
    tensors, rest = _optimizer_tensors(optimizer, write)
    if not write:
        return folder
    staging = f"{folder}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    os.makedirs(staging)
    save_file(trained, os.path.join(staging, "trained.safetensors"))
    save_file(tensors, os.path.join(staging, "optimizer.safetensors"))
    with open(os.path.join(staging, "state.json"), "w", encoding="utf-8") as handle:
        json.dump({"step": step, "settings": json.loads(settings.to_json()), "optimizer": rest}, handle)
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(staging, folder)
    for name in _complete_checkpoints(os.path.dirname(folder))[:-KEEP]:
        shutil.rmtree(os.path.join(os.path.dirname(folder), name), ignore_errors=True)
    return folder


def load_checkpoint(folder: str, parameters: dict[str, torch.nn.Parameter], optimizer: torch.optim.Optimizer,
                    settings: TrainingSettings) -> int:
    """Restore parameters and optimiser from ``folder``; the step it was written after."""
    with open(os.path.join(folder, "state.json"), encoding="utf-8") as handle:
        state = json.load(handle)
    saved = TrainingSettings(**state["settings"])
    changed = settings.differences(saved)
    if changed:
        raise TrainingSettingsError(f"{os.path.basename(folder)} was written under other settings ({', '.join(changed)}"
                                    f"); resume with the run's own settings, or train into a new folder")
    trained = load_file(os.path.join(folder, "trained.safetensors"))
    if set(trained) != set(parameters):
        raise TrainingSettingsError(f"{os.path.basename(folder)} holds other parameters than this run trains; train "
                                    f"into a new folder")
    with torch.no_grad():
        for name, parameter in parameters.items():
            parameter.copy_(split_like(trained[name], parameter))
    tensors = load_file(os.path.join(folder, "optimizer.safetensors"))
    optimised = [parameter for group in optimizer.param_groups for parameter in group["params"]]
    entries: dict[int, dict] = {}
    for key, value in [*tensors.items(), *state["optimizer"]["scalars"].items()]:
        index, _, name = key.partition(".")
        if name != "step":
            value = split_like(value, optimised[int(index)])
        entries.setdefault(int(index), {})[name] = value
    groups = [{**group, "betas": tuple(group["betas"])} if "betas" in group else group
              for group in state["optimizer"]["param_groups"]]
    optimizer.load_state_dict({"state": entries, "param_groups": groups})
    return int(state["step"])
