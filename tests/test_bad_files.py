"""Bad-input corpus, files: missing, outside the model folders, truncated, pickles, foreign or mismatched files,
MLLM folders with remote code or without safetensors, broken configs (tests/harness/bad_input.py)."""

from __future__ import annotations

import json
import os
import shutil

import pytest
import torch

from squeeze_core.dla import DLAConfig, DualLayerAggregator
from squeeze_core.files import save_dla
from tests.harness.bad_input import Refused, check_case
from tests.harness.graphs import TINY_MLLM, tiny_pipeline


def _with_dla(reference: str, dla_name: str) -> dict:
    graph = tiny_pipeline(reference)
    graph["dla"] = {"class_type": "SqueezeDLALoader", "inputs": {"dla_name": dla_name}}
    graph["aggregate"]["inputs"]["dla"] = ["dla", 0]
    return graph


def _with_mllm(reference: str, mllm_name: str) -> dict:
    graph = tiny_pipeline(reference)
    graph["mllm"]["inputs"]["mllm_name"] = mllm_name
    return graph


def _mllm_copy(server, name: str) -> str:
    """A copy of the tiny MLLM folder to damage."""
    folder = server.models("mllm", name)
    shutil.rmtree(folder)
    shutil.copytree(server.models("mllm", TINY_MLLM), folder)
    return folder


def _mllm_outside_the_folder(server, reference):
    """A working MLLM folder outside the model folders, named by its absolute path: it must not load."""
    outside = os.path.join(os.path.dirname(server.base), "outside-mllm")
    if not os.path.isdir(outside):
        shutil.copytree(server.models("mllm", TINY_MLLM), outside)
    return _with_mllm(reference, outside)


def _dla_for_another_mllm(server, reference):
    torch.manual_seed(0)
    config = DLAConfig(mllm_hidden_size=48, mllm_num_layers=4, layer_indices=range(5), context_dim=32, pool_dim=16,
                       pool_heads=2, source_model="another-mllm")
    save_dla(DualLayerAggregator(config), server.models("squeeze_dla", "for_another_mllm.safetensors"))
    return _with_dla(reference, "for_another_mllm.safetensors")


def _write(server, parts: tuple[str, ...], content: bytes) -> None:
    with open(server.models(*parts), "wb") as handle:
        handle.write(content)


def _zip_renamed(server, reference):
    _write(server, ("squeeze_dla", "renamed_checkpoint.safetensors"), b"PK\x03\x04 a zip archive renamed")
    return _with_dla(reference, "renamed_checkpoint.safetensors")


def _pickle_renamed(server, reference):
    torch.save({"weight": torch.zeros(2)}, server.models("squeeze_dla", "pickled.safetensors"))
    return _with_dla(reference, "pickled.safetensors")


def _foreign_safetensors(server, reference):
    from safetensors.torch import save_file

    save_file({"weight": torch.zeros(2)}, server.models("squeeze_dla", "someone_elses_lora.safetensors"))
    return _with_dla(reference, "someone_elses_lora.safetensors")


def _truncated_dla(server, reference):
    torch.manual_seed(0)
    config = DLAConfig(mllm_hidden_size=32, mllm_num_layers=4, layer_indices=range(5), context_dim=32, pool_dim=16,
                       pool_heads=2, source_model=TINY_MLLM)
    path = server.models("squeeze_dla", "cut_short.safetensors")
    save_dla(DualLayerAggregator(config), path)
    with open(path, "r+b") as handle:
        handle.truncate(os.path.getsize(path) // 2)
    return _with_dla(reference, "cut_short.safetensors")


def _truncated_mllm(server, reference):
    folder = _mllm_copy(server, "truncated-mllm")
    [weights] = [name for name in os.listdir(folder) if name.endswith(".safetensors")]
    with open(os.path.join(folder, weights), "r+b") as handle:
        handle.truncate(os.path.getsize(os.path.join(folder, weights)) // 3)
    return _with_mllm(reference, "truncated-mllm")


def _mllm_without_config(server, reference):
    _write(server, ("mllm", "half-copied-mllm", "model.safetensors"), b"")
    return _with_mllm(reference, "half-copied-mllm")


def _mllm_pickles_only(server, reference):
    folder = _mllm_copy(server, "pickled-mllm")
    for name in os.listdir(folder):
        if name.endswith(".safetensors"):
            os.remove(os.path.join(folder, name))
    torch.save({"weight": torch.zeros(2)}, os.path.join(folder, "pytorch_model.bin"))
    return _with_mllm(reference, "pickled-mllm")


def _mllm_remote_code(server, reference):
    folder = _mllm_copy(server, "remote-code-mllm")
    config_path = os.path.join(folder, "config.json")
    with open(config_path, encoding="utf-8") as handle:
        config = json.load(handle)
    config.update(model_type="evil_vlm", auto_map={"AutoModelForImageTextToText": "modeling_evil.EvilModel"})
    with open(config_path, "w", encoding="utf-8") as handle:
        json.dump(config, handle)
    with open(os.path.join(folder, "modeling_evil.py"), "w", encoding="utf-8") as handle:
        handle.write("raise SystemExit('remote code ran')\n")
    return _with_mllm(reference, "remote-code-mllm")


def _mllm_broken_config(server, reference):
    folder = _mllm_copy(server, "broken-config-mllm")
    with open(os.path.join(folder, "config.json"), "w", encoding="utf-8") as handle:
        handle.write("{ this is not json")
    return _with_mllm(reference, "broken-config-mllm")


def _diffusion_model(reference: str, name: str) -> dict:
    graph = tiny_pipeline(reference)
    graph["model"] = {"class_type": "SqueezeDiffusionModelLoader", "inputs": {"model_name": name, "dtype": "auto"}}
    return graph


def _truncated_diffusion_model(server, reference):
    _write(server, ("diffusion_models", "cut_short_dit.safetensors"), b"\x10\x00\x00\x00\x00\x00\x00\x00{\"a\":")
    return _diffusion_model(reference, "cut_short_dit.safetensors")


LOADER_FIX = "pick one from the list"
CASES = {
    "DLA file missing": Refused(lambda s, r: _with_dla(r, "not_downloaded_yet.safetensors"), "dla",
                                ["Squeeze DLA Loader", "not_downloaded_yet", "models/squeeze_dla"]),
    "DLA name outside its folder": Refused(lambda s, r: _with_dla(r, "../../comfyui.db"), "dla",
                                           ["Squeeze DLA Loader", "models/squeeze_dla", LOADER_FIX]),
    "DLA as an absolute path": Refused(lambda s, r: _with_dla(r, "/etc/hostname"), "dla",
                                       ["Squeeze DLA Loader", LOADER_FIX]),
    "zip renamed .safetensors": Refused(_zip_renamed, "dla", ["Squeeze DLA Loader", "renamed_checkpoint",
                                                              "not a readable safetensors file"]),
    "pickle renamed .safetensors": Refused(_pickle_renamed, "dla", ["Squeeze DLA Loader", "pickled.safetensors",
                                                                    "not a readable safetensors file"]),
    "foreign safetensors as DLA": Refused(_foreign_safetensors, "dla", ["Squeeze DLA Loader", "not a Squeeze"]),
    "truncated DLA": Refused(_truncated_dla, "dla", ["Squeeze DLA Loader", "cut_short", "re-download"]),
    "DLA for another MLLM": Refused(_dla_for_another_mllm, "aggregate", ["Squeeze DLA Aggregate", "width 48",
                                                                         "width 32", "DLA trained for this MLLM"]),
    "MLLM folder without config": Refused(_mllm_without_config, "mllm", ["Squeeze MLLM Loader", "half-copied-mllm",
                                                                         "no config.json"]),
    "MLLM name as an absolute path": Refused(_mllm_outside_the_folder, "mllm",
                                             ["Squeeze MLLM Loader", "not a folder name", "models/mllm"]),
    "MLLM name outside its folder": Refused(lambda s, r: _with_mllm(r, f"../mllm/{TINY_MLLM}"), "mllm",
                                            ["Squeeze MLLM Loader", "not a folder name"]),
    "MLLM name '..'": Refused(lambda s, r: _with_mllm(r, ".."), "mllm", ["Squeeze MLLM Loader", "not a folder name"]),
    "truncated MLLM weights": Refused(_truncated_mllm, "mllm", ["Squeeze MLLM Loader", "truncated-mllm",
                                                                "copy the model folder again"]),
    "MLLM with pickled weights only": Refused(_mllm_pickles_only, "mllm", ["Squeeze MLLM Loader", "pickled-mllm",
                                                                           "only safetensors"]),
    "MLLM asking for remote code": Refused(_mllm_remote_code, "mllm", ["Squeeze MLLM Loader", "remote-code-mllm"]),
    "MLLM with a broken config": Refused(_mllm_broken_config, "mllm", ["Squeeze MLLM Loader", "config.json",
                                                                       "not valid JSON"]),
    "diffusion model outside its folder": Refused(lambda s, r: _diffusion_model(r, "../vae/x.safetensors"), "model",
                                                  ["Squeeze Diffusion Model Loader", LOADER_FIX]),
    "truncated diffusion model": Refused(_truncated_diffusion_model, "model",
                                         ["Squeeze Diffusion Model Loader", "cut_short_dit"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_file(comfy_server, case):
    check_case(comfy_server, case, CASES[case])
