"""Loads the pack's own diffusion models (the trained miniature, a transformer trained fully by ``train-dla``)
into ComfyUI's own Qwen-Image or FLUX.1 classes, at the sizes the file records."""

from __future__ import annotations

import dataclasses
import os

import comfy.ldm.flux.model
import comfy.model_detection
import comfy.model_management as mm
import comfy.model_patcher
import comfy.supported_models
import comfy.utils
import folder_paths
from comfy_api.latest import io

from ..squeeze_core.diffusion_config import FluxModelConfig, TransformerConfig
from ..squeeze_core.files.diffusion_model import check_diffusion_weights, read_diffusion_model_config

from .errors import node_errors
from .input_checks import CheckedNode
from .loaders import DTYPES

FOLDER = "diffusion_models"


class SqueezeDiffusionModelLoader(CheckedNode):
    DISPLAY = "Squeeze Diffusion Model Loader"

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SqueezeDiffusionModelLoader",
            display_name=cls.DISPLAY,
            category="squeeze/loaders",
            description="Loads a diffusion model saved by this pack (the trained miniature, or your own training): "
            "its architecture and sizes travel in the file, so it is rebuilt exactly with ComfyUI's own "
            "Qwen-Image or FLUX.1 classes, at any width, and works with every stock and Squeeze sampler and the "
            "stock LoRA loaders. Real Qwen-Image and FLUX files load with the stock Load Diffusion Model node.",
            inputs=[
                io.Combo.Input("model_name", options=folder_paths.get_filename_list(FOLDER),
                               tooltip="A .safetensors file in models/diffusion_models saved by save_diffusion_model."),
                io.Combo.Input("dtype", options=list(DTYPES), default="auto",
                               tooltip="Weight precision. auto: what ComfyUI picks for this device."),
            ],
            outputs=[io.Model.Output(display_name="model", tooltip="The diffusion model, for any sampler.")],
        )

    @classmethod
    def check_inputs(cls, model_name: str, **_) -> bool | str:
        if folder_paths.get_full_path(FOLDER, model_name) is None:
            return (f"{cls.DISPLAY}: no file named '{model_name}' in models/diffusion_models; put it there and "
                    f"refresh, or pick one from the list")
        return True

    @classmethod
    def execute(cls, model_name: str, dtype: str) -> io.NodeOutput:
        path = folder_paths.get_full_path(FOLDER, model_name)
        with node_errors(cls.DISPLAY):
            config = read_diffusion_model_config(path)
            weights = comfy.utils.load_torch_file(path, safe_load=True)
            model_config = _model_config(config)
            if isinstance(config, FluxModelConfig):
                weights = comfy.model_detection.convert_diffusers_mmdit(weights, "")
            load_device = mm.get_torch_device()
            unet_dtype = DTYPES[dtype] or mm.unet_dtype(model_params=comfy.utils.calculate_parameters(weights),
                                                        supported_dtypes=model_config.supported_inference_dtypes,
                                                        weight_dtype=comfy.utils.weight_dtype(weights))
            model_config.set_inference_dtype(unet_dtype, mm.unet_manual_cast(
                unet_dtype, load_device, model_config.supported_inference_dtypes))
            model = model_config.get_model(weights, "")
            check_diffusion_weights(set(model.diffusion_model.state_dict()), set(weights), os.path.basename(path))
            model.load_model_weights(weights, "")
        # The stock loaders' patcher: CoreModelPatcher from ComfyUI 0.33 on (dynamic VRAM when it is enabled).
        patcher_class = getattr(comfy.model_patcher, "CoreModelPatcher", comfy.model_patcher.ModelPatcher)
        return io.NodeOutput(patcher_class(model.to(mm.unet_offload_device()), load_device=load_device,
                                           offload_device=mm.unet_offload_device()))


def _model_config(config: TransformerConfig):
    """ComfyUI's model config of these sizes: Qwen-Image's takes diffusers' arguments; FLUX.1's takes its own,
    its latents unpacked (16 channels, 2x2 patches), those this ComfyUI's FluxParams has."""
    if not isinstance(config, FluxModelConfig):
        return comfy.supported_models.QwenImage({"image_model": config.architecture, **config.model_kwargs()})
    known = {field.name for field in dataclasses.fields(comfy.ldm.flux.model.FluxParams)}
    sizes = {"in_channels": config.in_channels // 4, "out_channels": (config.out_channels or config.in_channels) // 4,
             "vec_in_dim": config.pooled_projection_dim, "context_in_dim": config.joint_attention_dim,
             "hidden_size": config.num_attention_heads * config.attention_head_dim, "mlp_ratio": 4.0,
             "num_heads": config.num_attention_heads, "depth": config.num_layers,
             "depth_single_blocks": config.num_single_layers, "axes_dim": list(config.axes_dims_rope),
             "theta": 10000, "patch_size": 2, "qkv_bias": True, "guidance_embed": config.guidance_embeds,
             "txt_ids_dims": []}
    model_class = comfy.supported_models.Flux if config.guidance_embeds else comfy.supported_models.FluxSchnell
    return model_class({"image_model": "flux", **{name: value for name, value in sizes.items() if name in known}})
