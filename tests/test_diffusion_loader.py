"""The pack's own diffusion model files: a diffusers Qwen-Image transformer saved with its sizes loads,
key for key, into ComfyUI's own classes through Squeeze Diffusion Model Loader and samples."""

from __future__ import annotations

import pytest
import torch
from diffusers import QwenImageTransformer2DModel
from safetensors.torch import load_file, save_file

from squeeze_core.errors import ModelFileError
from squeeze_core.diffusion_config import DiffusionModelConfig
from squeeze_core.files import read_diffusion_model_config, save_diffusion_model
from tests.harness.graphs import tiny_pipeline, write_reference
from tools.comfyui_server import execution_error, saved_latents

TINY = dict(patch_size=2, in_channels=64, out_channels=16, num_layers=1, attention_head_dim=16,
            num_attention_heads=2, joint_attention_dim=32, axes_dims_rope=(4, 6, 6))


def _tiny_transformer() -> QwenImageTransformer2DModel:
    torch.manual_seed(0)
    model = QwenImageTransformer2DModel(**TINY)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_(0.0, 0.05)
    return model


def test_saved_config_rebuilds_the_model_exactly(tmp_path):
    model = _tiny_transformer()
    config = DiffusionModelConfig.from_diffusers(model.config)
    path = tmp_path / "tiny.safetensors"
    save_diffusion_model(model.state_dict(), config, path)
    assert read_diffusion_model_config(path) == config
    rebuilt = QwenImageTransformer2DModel(**read_diffusion_model_config(path).model_kwargs())
    rebuilt.load_state_dict(load_file(path), strict=True)
    with pytest.raises(ModelFileError, match="axes_dims_rope"):
        DiffusionModelConfig(axes_dims_rope=(4, 4, 4))


def _run(server, graph):
    entry = server.run(graph)
    return entry, execution_error(entry)


def test_loader_builds_comfyui_classes_from_the_file_and_samples(comfy_server):
    save_diffusion_model(_tiny_transformer().state_dict(), DiffusionModelConfig(**TINY),
                         comfy_server.models("diffusion_models", "squeeze_tiny_qwen.safetensors"))
    reference = write_reference(comfy_server.base, "loader_subject.png")
    latents = []
    for seed in (1, 2):
        graph = tiny_pipeline(reference, seed=seed, steps=3)
        graph["model"] = {"class_type": "SqueezeDiffusionModelLoader",
                          "inputs": {"model_name": "squeeze_tiny_qwen.safetensors", "dtype": "float32"}}
        entry, error = _run(comfy_server, graph)
        assert error is None, error
        latents.append(saved_latents(comfy_server, entry)["save"])
    assert all(torch.isfinite(latent).all() for latent in latents)
    assert (latents[0] - latents[1]).abs().max() > 1e-3


@pytest.mark.parametrize("content, words", [
    ("no_config", "load it with the stock Load Diffusion Model"),
    ("missing_weights", "does not hold the weights its config describes"),
])
def test_foreign_or_incomplete_files_get_a_node_error(comfy_server, content, words):
    name = f"squeeze_{content}.safetensors"
    path = comfy_server.models("diffusion_models", name)
    if content == "no_config":
        save_file({"weight": torch.zeros(2)}, path)
    else:
        save_diffusion_model({"img_in.weight": torch.zeros(32, 64)}, DiffusionModelConfig(**TINY), path)
    graph = tiny_pipeline(write_reference(comfy_server.base, "loader_subject.png"), steps=1)
    graph["model"] = {"class_type": "SqueezeDiffusionModelLoader", "inputs": {"model_name": name, "dtype": "auto"}}
    _, error = _run(comfy_server, graph)
    assert error["node_id"] == "model"
    assert "Squeeze Diffusion Model Loader" in error["exception_message"]
    assert words in error["exception_message"]
