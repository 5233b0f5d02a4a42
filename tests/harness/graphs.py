"""API-format prompts of the pack's pipeline on test-only tiny models, as a client would send them."""

from __future__ import annotations

import os

import numpy as np
from PIL import Image

TINY_MLLM = "tiny-qwen2.5-vl"
TINY_VAE = "tiny_qwen_image_vae.safetensors"
"""Written by the comfy_server fixture: the tiny Qwen-Image VAE, in the layout the stock VAELoader reads."""


def write_reference(server_base: str, name: str, size=(96, 64), colour=(200, 40, 40), mode="RGB") -> str:
    """A flat subject on grey, saved in the server's input folder; returns its file name."""
    width, height = size
    pixels = np.full((height, width, 3), 120, dtype=np.uint8)
    pixels[height // 4: 3 * height // 4, width // 4: 3 * width // 4] = colour
    image = Image.fromarray(pixels)
    if mode != "RGB":
        image = image.convert(mode)
    image.save(os.path.join(server_base, "input", name))
    return name


def tiny_pipeline(reference: str, prompt: str = "put it small in the top left", sampler: dict | None = None,
                  seed: int = 1, steps: int = 4, record: str | None = None, size: int = 64) -> dict:
    """MLLM joint encode -> DLA aggregate (no DLA) -> VAE identity -> sampler -> SaveLatent."""
    model_ref = ["model", 0]
    graph = {
        "model": {"class_type": "SqueezeTestTinyQwenImage", "inputs": {"context_dim": 32, "num_layers": 1,
                                                                       "weight_seed": 0}},
        "vae": {"class_type": "VAELoader", "inputs": {"vae_name": TINY_VAE}},
        "mllm": {"class_type": "SqueezeMLLMLoader", "inputs": {"mllm_name": TINY_MLLM, "dtype": "float32"}},
        "image": {"class_type": "LoadImage", "inputs": {"image": reference}},
        "encode": {"class_type": "SqueezeMLLMEncode",
                   "inputs": {"mllm": ["mllm", 0], "prompt": prompt, "image1": ["image", 0],
                              "vision_resolution": 112, "picture_labels": True}},
        "aggregate": {"class_type": "SqueezeDLAAggregate", "inputs": {"features": ["encode", 0]}},
        "identity": {"class_type": "SqueezeVAEIdentityEncode",
                     "inputs": {"conditioning": ["aggregate", 0], "vae": ["vae", 0], "image1": ["image", 0],
                                "identity_resolution": 64}},
        "negative": {"class_type": "ConditioningZeroOut", "inputs": {"conditioning": ["aggregate", 0]}},
        "latent": {"class_type": "EmptySD3LatentImage", "inputs": {"width": size, "height": size,
                                                                   "batch_size": 1}},
        "save": {"class_type": "SaveLatent", "inputs": {"samples": ["sampler", 0],
                                                        "filename_prefix": f"latents/seed{seed}"}},
    }
    if record:
        graph["record"] = {"class_type": "SqueezeTestRecordCalls", "inputs": {"model": model_ref,
                                                                               "log_name": record}}
        model_ref = ["record", 0]
    common = {"model": model_ref, "seed": seed, "steps": steps, "cfg": 2.5, "sampler_name": "euler",
              "scheduler": "simple", "positive": ["identity", 0], "negative": ["negative", 0],
              "latent_image": ["latent", 0], "denoise": 1.0}
    sampler = sampler or {"class_type": "KSampler"}
    graph["sampler"] = {"class_type": sampler["class_type"], "inputs": {**common, **sampler.get("inputs", {})}}
    return graph


SAMPLER_INPUTS = ("model", "seed", "steps", "cfg", "sampler_name", "scheduler", "positive", "negative", "latent_image",
                  "denoise")


def add_sampler(graph: dict, name: str, sampler: dict | None = None, **inputs) -> dict:
    """Another sampler beside the graph's own, on its inputs unless overridden, saved by node save_<name>."""
    common = {key: graph["sampler"]["inputs"][key] for key in SAMPLER_INPUTS}
    sampler = sampler or {"class_type": "KSampler"}
    graph[f"sampler_{name}"] = {"class_type": sampler["class_type"],
                                "inputs": {**common, **sampler.get("inputs", {}), **inputs}}
    graph[f"save_{name}"] = {"class_type": "SaveLatent", "inputs": {"samples": [f"sampler_{name}", 0],
                                                                     "filename_prefix": f"latents/{name}"}}
    return graph


def multi_stage(schedule: str = "paper", **inputs) -> dict:
    return {"class_type": "SqueezeMultiStageKSampler",
            "inputs": {"schedule": schedule, "switch_1": 0.05, "switch_2": 0.15, "identity_strength": 1.0,
                       "semantic_strength": 1.0,
                       **inputs}}


def family_graph(family: str, picture: str, seed: int = 3, steps: int = 4, method: str | None = None) -> dict:
    """The MLLM joint encoding of ``picture`` (no DLA) on a tiny model of ``family``, with two random reference
    latents in its layout attached by chained stock ReferenceLatent nodes (``refs_1``: the first only,
    ``refs_2``: only the second, ``refs_12``: both, ``refs_32``: a third in the first's place; ``refs_0``:
    none) and their image-token-free twins
    (``cut_*``); ``method`` is set with the stock FluxKontextMultiReferenceLatentMethod. Samplers are added
    with add_sampler; the graph's own sampler is the stock KSampler on ``refs_1``."""
    graph = tiny_pipeline(picture, seed=seed, steps=steps)
    for name in ("identity", "vae", "save"):
        del graph[name]
    graph["model"] = {"class_type": "SqueezeTestTinyModel",
                      "inputs": {"family": family, "context_dim": 32, "weight_seed": 0}}
    for name, size, latent_seed in (("latent", (64, 64), 0), ("ref1", (64, 64), 11), ("ref2", (48, 64), 12),
                                    ("ref3", (64, 64), 13)):
        graph[name] = {"class_type": "SqueezeTestFamilyLatent",
                       "inputs": {"family": family, "width": size[0], "height": size[1], "seed": latent_seed}}
    graph["cut"] = {"class_type": "SqueezeTestDropImageTokens", "inputs": {"conditioning": ["aggregate", 0]}}
    for source in ("aggregate", "cut"):
        prefix = "refs" if source == "aggregate" else "cut"
        for name, latents in (("0", ()), ("1", ("ref1",)), ("2", ("ref2",)), ("12", ("ref1", "ref2")),
                              ("32", ("ref3", "ref2"))):
            node = [source, 0]
            for k, latent in enumerate(latents):
                graph[f"{prefix}_{name}_{k}"] = {"class_type": "ReferenceLatent",
                                                 "inputs": {"conditioning": node, "latent": [latent, 0]}}
                node = [f"{prefix}_{name}_{k}", 0]
            if method is not None:
                graph[f"{prefix}_{name}_method"] = {"class_type": "FluxKontextMultiReferenceLatentMethod",
                                                    "inputs": {"conditioning": node,
                                                               "reference_latents_method": method}}
                node = [f"{prefix}_{name}_method", 0]
            graph[f"{prefix}_{name}"] = {"class_type": "SqueezeReferenceStrengths", "inputs": {"conditioning": node}}
    graph["negative"] = {"class_type": "ConditioningZeroOut", "inputs": {"conditioning": ["refs_0", 0]}}
    graph["negative_cut"] = {"class_type": "ConditioningZeroOut", "inputs": {"conditioning": ["cut_0", 0]}}
    graph["sampler"]["inputs"]["positive"] = ["refs_1", 0]
    return graph


def add_region(graph: dict, name: str, conditioning: list, reference: int = 1, strength: float = 1.0,
               box: tuple[float, float, float, float] = (0.0, 0.0, 0.5, 1.0)) -> list:
    """A Squeeze Reference Region node (a box) on ``conditioning``; returns its output link."""
    left, top, right, bottom = box
    graph[name] = {"class_type": "SqueezeReferenceRegion",
                   "inputs": {"conditioning": conditioning, "reference": reference, "strength": strength,
                              "left": left, "top": top, "right": right, "bottom": bottom}}
    return [name, 0]
