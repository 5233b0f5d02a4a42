"""The standalone pipeline and the ComfyUI sampler are one method: from the same files, initial noise and
sigmas, under stage schedules that drop, weight and restore both streams, and with a region that binds the
reference and is released late, their final latents agree; so do a DLA and LoRA that ``train-dla`` trained,
for Qwen-Image and for FLUX.1 (two references, loaded by the pack's loader and ComfyUI's own VAE and LoRA
loaders)."""

from __future__ import annotations

import os
import shutil

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from squeeze_core.denoiser import build_transformer
from squeeze_core.dla import DualLayerAggregator
from squeeze_core.files import save_diffusion_model, save_dla, save_vae
from squeeze_core.identity import denormalize
from squeeze_core.miniature.example import example_pictures
from squeeze_core.miniature.shipped import SHIPPED
from squeeze_core.miniature.spec import VISION_RESOLUTION
from squeeze_core.miniature.study import miniature_pipeline
from squeeze_core.pipeline import SqueezePipeline
from squeeze_core.region_binding import Region
from squeeze_core.schedule import schedule_from_preset
from squeeze_core.tiny_models import TinyMLLMSpec, build_tiny_mllm
from squeeze_core.tiny_vae import build_tiny_vae
from squeeze_core.training.recipe import RunFiles
from tests.harness.recipe_runs import RecipeParts, train_dla, write_dataset
from tests.harness.tiny_parts import TINY_DIFFUSION, TINY_DLA, TINY_FLUX, build_flux_vae
from tools.comfyui_server import execution_error, saved_latents

MLLM, DLA, MODEL, VAE = "parity-mllm", "parity_dla.safetensors", "parity_dit.safetensors", "parity_vae.safetensors"
FLUX_MODEL, FLUX_VAE = "parity_flux_dit.safetensors", "parity_flux_vae.safetensors"
PROMPT = "put it small in the top left on a sky background, turned right"
SCHEDULES = {
    "paper": dict(schedule="paper", switch_1=0.2, switch_2=0.5),
    "custom": dict(schedule="custom", switch_1=0.05, switch_2=0.15, semantic_breakpoints="0:1, 0.4:0.4",
                   identity_breakpoints="0:0, 0.2:0, 0.2:0.5, 0.7:1"),
    "region": dict(schedule="paper", switch_1=0.2, switch_2=0.5, release_regions_at=0.6),
}
PICTURES = ("parity_subject.png", "parity_second_subject.png")
REGION = {"strength": 0.8, "left": 0.0, "top": 0.25, "right": 0.5, "bottom": 1.0}
"""The schedule ``region`` binds the reference to this box."""


def _perturb(module: torch.nn.Module, std: float, seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in module.named_parameters():
            if "gamma" not in name:
                parameter.add_(torch.randn(parameter.shape, generator=generator) * std)


@pytest.fixture(scope="module")
def parity_files(comfy_server):
    build_tiny_mllm(comfy_server.models("mllm", MLLM), TinyMLLMSpec(family="qwen2_5_vl"))
    dla = DualLayerAggregator(TINY_DLA)
    _perturb(dla, 0.2, 1)
    save_dla(dla, comfy_server.models("squeeze_dla", DLA))
    transformer = build_transformer(TINY_DIFFUSION, seed=0)
    _perturb(transformer, 0.05, 2)
    save_diffusion_model(transformer.state_dict(), TINY_DIFFUSION, comfy_server.models("diffusion_models", MODEL))
    vae = build_tiny_vae(seed=3)
    _perturb(vae, 0.05, 4)
    save_vae(vae, comfy_server.models("vae", VAE))
    references = example_pictures()
    for name, reference in zip(PICTURES, references):
        Image.fromarray(reference).save(os.path.join(comfy_server.base, "input", name))
    return references


def _graph(seed: int, steps: int, schedule: dict, pictures: int = 1) -> dict:
    graph = {
        "model": {"class_type": "SqueezeDiffusionModelLoader", "inputs": {"model_name": MODEL, "dtype": "float32"}},
        "vae": {"class_type": "VAELoader", "inputs": {"vae_name": VAE}},
        "mllm": {"class_type": "SqueezeMLLMLoader", "inputs": {"mllm_name": MLLM, "dtype": "float32"}},
        "dla": {"class_type": "SqueezeDLALoader", "inputs": {"dla_name": DLA}},
        "image": {"class_type": "LoadImage", "inputs": {"image": PICTURES[0]}},
        "encode": {"class_type": "SqueezeMLLMEncode",
                   "inputs": {"mllm": ["mllm", 0], "prompt": PROMPT, "image1": ["image", 0],
                              "vision_resolution": 112, "picture_labels": True}},
        "aggregate": {"class_type": "SqueezeDLAAggregate", "inputs": {"features": ["encode", 0], "dla": ["dla", 0]}},
        "identity": {"class_type": "SqueezeVAEIdentityEncode",
                     "inputs": {"conditioning": ["aggregate", 0], "vae": ["vae", 0], "image1": ["image", 0],
                                "identity_resolution": 64}},
        "region": {"class_type": "SqueezeReferenceRegion",
                   "inputs": {"conditioning": ["identity", 0], "reference": 1, **REGION}},
        "negative": {"class_type": "ConditioningZeroOut", "inputs": {"conditioning": ["aggregate", 0]}},
        "latent": {"class_type": "EmptySD3LatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "noise": {"class_type": "RandomNoise", "inputs": {"noise_seed": seed}},
        "sampler": {"class_type": "KSamplerSelect", "inputs": {"sampler_name": "euler"}},
        "sigmas": {"class_type": "BasicScheduler",
                   "inputs": {"model": ["model", 0], "scheduler": "simple", "steps": steps, "denoise": 1.0}},
        "guider": {"class_type": "SqueezeStageGuider",
                   "inputs": {"model": ["model", 0], "positive": ["region" if "release_regions_at" in schedule
                                                                   else "identity", 0], "negative": ["negative", 0],
                              "cfg": 1.0, "identity_strength": 1.0, "semantic_strength": 1.0, **schedule}},
        "run": {"class_type": "SamplerCustomAdvanced",
                "inputs": {"noise": ["noise", 0], "guider": ["guider", 0], "sampler": ["sampler", 0],
                           "sigmas": ["sigmas", 0], "latent_image": ["latent", 0]}},
        "save": {"class_type": "SaveLatent", "inputs": {"samples": ["run", 0], "filename_prefix": "latents/parity"}},
        "save_sigmas": {"class_type": "SqueezeTestSaveSigmas",
                        "inputs": {"sigmas": ["sigmas", 0], "file_name": "parity_sigmas"}},
    }
    if pictures == 2:
        graph["image2"] = {"class_type": "LoadImage", "inputs": {"image": PICTURES[1]}}
        for node in ("encode", "identity"):
            graph[node]["inputs"]["image2"] = ["image2", 0]
    return graph


def test_shipped_miniature_matches_too(comfy_server, parity_files):
    """The trained files, which the pack lists in ComfyUI's loaders wherever it is installed."""
    graph = _graph(9, 10, SCHEDULES["custom"])
    names = {"model": ("model_name", SHIPPED.diffusion), "vae": ("vae_name", SHIPPED.vae),
             "dla": ("dla_name", SHIPPED.dla), "mllm": ("mllm_name", SHIPPED.mllm)}
    for node, (field, path) in names.items():
        graph[node]["inputs"][field] = os.path.basename(path)
    graph["encode"]["inputs"]["vision_resolution"] = VISION_RESOLUTION
    _compare(comfy_server, graph, miniature_pipeline(SHIPPED), parity_files[:1], "custom", 9)


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_pipeline_matches_the_comfyui_sampler(comfy_server, parity_files, name):
    models = lambda *parts: os.path.join(comfy_server.base, "models", *parts)  # noqa: E731
    pipeline = SqueezePipeline.from_files(models("mllm", MLLM), models("diffusion_models", MODEL),
                                          models("vae", VAE), models("squeeze_dla", DLA), vision_resolution=112)
    _compare(comfy_server, _graph(5, 8, SCHEDULES[name]), pipeline, parity_files[:1], name, 5)


def test_a_trained_dla_and_lora_match_through_the_stock_lora_loader(comfy_server, parity_files, tmp_path):
    """``train-dla`` on the parity parts; ComfyUI's own LoraLoaderModelOnly applies the LoRA, the pipeline merges it."""
    models = lambda *parts: os.path.join(comfy_server.base, "models", *parts)  # noqa: E731
    parts = RecipeParts(write_dataset(str(tmp_path / "data")), models("diffusion_models", MODEL), models("vae", VAE),
                        "", "")
    run = RunFiles(str(tmp_path / "run"), "parity_trained")
    train_dla(parts, models("mllm", MLLM), run.out, "--name", run.name)
    for path, folder in ((run.lora, "loras"), (run.dla, "squeeze_dla")):
        shutil.copy(path, comfy_server.models(folder, os.path.basename(path)))
    graph = _graph(5, 8, SCHEDULES["paper"])
    graph["dla"]["inputs"]["dla_name"] = os.path.basename(run.dla)
    graph["lora"] = {"class_type": "LoraLoaderModelOnly",
                     "inputs": {"model": ["model", 0], "lora_name": os.path.basename(run.lora), "strength_model": 1.0}}
    graph["guider"]["inputs"]["model"] = ["lora", 0]
    pipeline = SqueezePipeline.from_files(models("mllm", MLLM), models("diffusion_models", MODEL), models("vae", VAE),
                                          models("squeeze_dla", os.path.basename(run.dla)), lora_path=run.lora,
                                          vision_resolution=112)
    _compare(comfy_server, graph, pipeline, parity_files[:1], "paper", 5)
    without_lora = SqueezePipeline.from_files(models("mllm", MLLM), models("diffusion_models", MODEL),
                                              models("vae", VAE), models("squeeze_dla", os.path.basename(run.dla)),
                                              vision_resolution=112)
    with pytest.raises(AssertionError, match="differ by"):
        _compare(comfy_server, graph, without_lora, parity_files[:1], "paper", 5)


def test_a_dla_and_lora_trained_for_flux_match_with_two_references(comfy_server, parity_files, tmp_path):
    """A tiny FLUX.1-dev transformer and FLUX's VAE (real size, random): ``train-dla`` trains on them; in ComfyUI
    the pack's loader builds ComfyUI's FLUX class from the file, the stock VAELoader and LoraLoaderModelOnly load
    the rest (every LoRA key, single blocks' slices of linear1 included), and two references are placed as
    Kontext places them."""
    models = lambda *parts: os.path.join(comfy_server.base, "models", *parts)  # noqa: E731
    transformer = build_transformer(TINY_FLUX, seed=0)
    _perturb(transformer, 0.05, 5)
    save_diffusion_model(transformer.state_dict(), TINY_FLUX, comfy_server.models("diffusion_models", FLUX_MODEL))
    vae_folder = str(tmp_path / "flux_vae")
    vae = build_flux_vae(seed=6)
    vae.save_config(vae_folder)
    save_file({name: weight.to(torch.bfloat16) for name, weight in vae.state_dict().items()},
              os.path.join(vae_folder, "diffusion_pytorch_model.safetensors"))
    shutil.copy(os.path.join(vae_folder, "diffusion_pytorch_model.safetensors"), comfy_server.models("vae", FLUX_VAE))
    parts = RecipeParts(write_dataset(str(tmp_path / "data")), models("diffusion_models", FLUX_MODEL), vae_folder,
                        "", "")
    run = RunFiles(str(tmp_path / "run"), "parity_flux")
    train_dla(parts, models("mllm", MLLM), run.out, "--name", run.name)
    for path, folder in ((run.lora, "loras"), (run.dla, "squeeze_dla")):
        shutil.copy(path, comfy_server.models(folder, os.path.basename(path)))
    graph = _graph(5, 8, SCHEDULES["paper"], pictures=2)
    for node, field, file_name in (("model", "model_name", FLUX_MODEL), ("vae", "vae_name", FLUX_VAE),
                                   ("dla", "dla_name", os.path.basename(run.dla))):
        graph[node]["inputs"][field] = file_name
    graph["lora"] = {"class_type": "LoraLoaderModelOnly",
                     "inputs": {"model": ["model", 0], "lora_name": os.path.basename(run.lora), "strength_model": 1.0}}
    graph["guider"]["inputs"]["model"] = ["lora", 0]
    parts_of = (models("mllm", MLLM), models("diffusion_models", FLUX_MODEL), vae_folder,
                models("squeeze_dla", os.path.basename(run.dla)))
    pipeline = SqueezePipeline.from_files(*parts_of, lora_path=run.lora, vision_resolution=112)
    _compare(comfy_server, graph, pipeline, parity_files, "paper", 5)
    assert "lora key not loaded" not in comfy_server.log_text()
    with pytest.raises(AssertionError, match="differ by"):
        _compare(comfy_server, graph, SqueezePipeline.from_files(*parts_of, vision_resolution=112), parity_files,
                 "paper", 5)


def _compare(comfy_server, graph: dict, pipeline: SqueezePipeline, references: list, name: str, seed: int) -> None:
    entry = comfy_server.run(graph)
    error = execution_error(entry)
    assert error is None, (error or {}).get("exception_message")
    in_comfyui = saved_latents(comfy_server, entry)["save"]
    sigmas = load_file(os.path.join(comfy_server.base, "output", "parity_sigmas.safetensors"))["sigmas"]
    given = SCHEDULES[name]
    schedule = schedule_from_preset(given["schedule"], switch_1=given["switch_1"], switch_2=given["switch_2"],
                                    semantic_points=given.get("semantic_breakpoints", ""),
                                    identity_points=given.get("identity_breakpoints", ""),
                                    release_regions_at=given.get("release_regions_at", 1.0))
    regions = None
    if "release_regions_at" in given:
        regions = [Region(box=tuple(REGION[edge] for edge in ("left", "top", "right", "bottom")),
                          strength=REGION["strength"])]
    noise = torch.randn((1, 16, 8, 8), generator=torch.Generator().manual_seed(seed))
    result = pipeline(PROMPT, references, schedule=schedule, reference_regions=regions, sigmas=sigmas,
                      latents=noise, output_type="latent")
    raw = denormalize(result.latents, pipeline.vae.config)
    assert in_comfyui.reshape(raw.shape).shape == raw.shape
    difference = (in_comfyui.reshape(raw.shape) - raw).abs().max().item()
    assert raw.abs().max().item() > 0.1
    assert difference <= 1e-4, f"{name}: pipeline and ComfyUI differ by {difference}"
