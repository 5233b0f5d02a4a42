"""Tiny diffusion models of every reference-latent family, built with the running ComfyUI's own classes, and
random latents in each family's latent layout. A family this ComfyUI lacks is simply not offered (0.3.75
has no Krea 2 and no references at timestep zero)."""

from __future__ import annotations

import dataclasses
import inspect

import comfy.model_management as mm
import comfy.model_patcher
import comfy.supported_models
import torch

from .initialise import initialise

HIDDEN, HEADS = 64, 2


def _flux_params() -> set[str]:
    import comfy.ldm.flux.model

    return {field.name for field in dataclasses.fields(comfy.ldm.flux.model.FluxParams)}


def _flux(context_dim: int, num_layers: int = 1) -> dict:
    return {"image_model": "flux", "in_channels": 16, "out_channels": 16, "vec_in_dim": 16,
            "context_in_dim": context_dim, "hidden_size": HIDDEN, "mlp_ratio": 4.0, "num_heads": HEADS,
            "depth": num_layers, "depth_single_blocks": num_layers, "axes_dim": [4, 14, 14], "theta": 10000,
            "patch_size": 2, "qkv_bias": True, "guidance_embed": True, "txt_ids_dims": []}


def _flux2(context_dim: int, num_layers: int = 1) -> dict:
    return {"image_model": "flux2", "in_channels": 128, "out_channels": 128, "vec_in_dim": None,
            "context_in_dim": context_dim, "hidden_size": HIDDEN, "mlp_ratio": 3.0, "num_heads": HEADS,
            "depth": num_layers, "depth_single_blocks": num_layers, "axes_dim": [8, 8, 8, 8], "theta": 2000,
            "patch_size": 1, "qkv_bias": False, "guidance_embed": True, "global_modulation": True,
            "mlp_silu_act": True, "ops_bias": False, "default_ref_method": "index", "ref_index_scale": 10.0,
            "txt_ids_dims": [3]}


def tiny_qwen_image_config(context_dim: int, num_layers: int = 1, timestep_zero: bool = False) -> dict:
    config = {"image_model": "qwen_image", "num_layers": num_layers, "attention_head_dim": 16,
              "num_attention_heads": 2, "joint_attention_dim": context_dim, "axes_dims_rope": (4, 6, 6),
              "in_channels": 64, "out_channels": 16, "patch_size": 2}
    if timestep_zero:
        config["default_ref_method"] = "index_timestep_zero"
    return config


def _krea2(context_dim: int, num_layers: int = 1) -> dict:
    return {"image_model": "krea2", "features": HIDDEN, "heads": HEADS, "kvheads": 1, "multiplier": 2,
            "layers": num_layers, "patch": 2, "channels": 16, "txtlayers": 1, "txtdim": context_dim, "txtheads": 2,
            "txtkvheads": 2}


def _qwen_takes_timestep_zero() -> bool:
    import comfy.ldm.qwen_image.model

    init = comfy.ldm.qwen_image.model.QwenImageTransformer2DModel.__init__
    return "default_ref_method" in inspect.signature(init).parameters


def available_families() -> dict:
    """family -> (supported-model class, unet config builder, latent channels, latent downscale, 5-D latents)."""
    families = {
        "qwen_image_edit_2509": (comfy.supported_models.QwenImage, tiny_qwen_image_config, 16, 8, True),
        "flux_kontext": (comfy.supported_models.Flux, _flux, 16, 8, False),
        "flux2": (getattr(comfy.supported_models, "Flux2", None), _flux2, 128, 16, False),
        "krea2": (getattr(comfy.supported_models, "Krea2", None), _krea2, 16, 8, False),
    }
    if _qwen_takes_timestep_zero():
        families["qwen_image_edit_2511"] = (comfy.supported_models.QwenImage,
                                            lambda c, layers=1: tiny_qwen_image_config(c, layers, True), 16, 8, True)
    return {name: spec for name, spec in families.items() if spec[0] is not None}


def build_model(family: str, context_dim: int, initialise_weights, num_layers: int = 1,
                single_blocks: int | None = None) -> comfy.model_patcher.ModelPatcher:
    """``single_blocks`` sets a FLUX family's single-stream block count (0: its double blocks only)."""
    model_class, config_of, *_ = available_families()[family]
    config = config_of(context_dim, num_layers)
    if single_blocks is not None and "depth_single_blocks" in config:
        config["depth_single_blocks"] = single_blocks
    if model_class is not comfy.supported_models.QwenImage and "flux" in config["image_model"]:
        known = _flux_params() | {"image_model"}
        config = {key: value for key, value in config.items() if key in known}
    supported = model_class(config)
    supported.set_inference_dtype(torch.float32, None)
    model = supported.get_model({})
    initialise_weights(model.diffusion_model)
    return comfy.model_patcher.ModelPatcher(model, load_device=mm.get_torch_device(),
                                            offload_device=mm.unet_offload_device())


def random_latent(family: str, width: int, height: int, seed: int) -> torch.Tensor:
    _, _, channels, downscale, five_d = available_families()[family]
    shape = (1, channels, 1, height // downscale, width // downscale) if five_d else \
        (1, channels, height // downscale, width // downscale)
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


class SqueezeTestTinyModel:
    """A tiny diffusion model of one reference-latent family, from the running ComfyUI's own classes."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"family": (sorted(available_families()),),
                             "context_dim": ("INT", {"default": 32, "min": 8, "max": 4096}),
                             "weight_seed": ("INT", {"default": 0})},
                "optional": {"flux_single_blocks": ("INT", {"default": 1, "min": 0, "max": 4})}}

    RETURN_TYPES = ("MODEL",)
    FUNCTION = "build"
    CATEGORY = "squeeze_test"

    def build(self, family, context_dim, weight_seed, flux_single_blocks=1):
        return (build_model(family, context_dim, lambda module: initialise(module, weight_seed),
                            single_blocks=flux_single_blocks),)


class SqueezeTestFamilyLatent:
    """A random latent in a family's layout (channels, downscale, 4-D or 5-D), as its VAE would give one."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"family": (sorted(available_families()),),
                             "width": ("INT", {"default": 64, "min": 16, "max": 1024}),
                             "height": ("INT", {"default": 64, "min": 16, "max": 1024}),
                             "seed": ("INT", {"default": 0})}}

    RETURN_TYPES = ("LATENT",)
    FUNCTION = "make"
    CATEGORY = "squeeze_test"

    def make(self, family, width, height, seed):
        return ({"samples": random_latent(family, width, height, seed)},)


class SqueezeTestChannelsLatent:
    """Random latent values with any channel count (a latent made for another model, e.g. SD's 4 channels)."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"channels": ("INT", {"default": 4, "min": 1, "max": 256}),
                             "width": ("INT", {"default": 64, "min": 8, "max": 1024}),
                             "height": ("INT", {"default": 64, "min": 8, "max": 1024})}}

    RETURN_TYPES = ("LATENT",)
    FUNCTION = "make"
    CATEGORY = "squeeze_test"

    def make(self, channels, width, height):
        return ({"samples": torch.randn((1, channels, height // 8, width // 8),
                                        generator=torch.Generator().manual_seed(0))},)
