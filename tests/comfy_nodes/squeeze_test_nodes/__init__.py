"""Test-only ComfyUI nodes: tiny stand-ins of the real model classes and a recorder of model calls.

The harness links this folder into custom_nodes beside the pack. The stock loaders cannot load
tiny widths (their sizes are fixed or detected from only a few keys), so these build ComfyUI's own
classes at tiny size with deterministic weights. Nothing here ships with the pack.
"""

import json
import os

import comfy.controlnet
import comfy.latent_formats
import comfy.model_management as mm
import comfy.model_patcher
import comfy.ops
import comfy.sd
import comfy.supported_models
import comfy.supported_models_base
import folder_paths
import torch
from comfy import sd1_clip
from comfy.ldm.qwen_image.controlnet import QwenImageControlNetModel
from comfy.text_encoders.llama import Qwen25_7BVLI
from comfy.text_encoders.qwen_image import QwenImageTEModel, QwenImageTokenizer
from comfy.text_encoders.qwen_vl import Qwen2VLVisionTransformer
from safetensors.torch import save_file

from .families import (
    SqueezeTestChannelsLatent, SqueezeTestFamilyLatent, SqueezeTestTinyModel, build_model, tiny_qwen_image_config,
)
from .initialise import initialise


class SqueezeTestTinyQwenImage:
    """A Qwen-Image diffusion model of tiny width, built from comfy.supported_models.QwenImage."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"context_dim": ("INT", {"default": 32, "min": 8, "max": 4096}),
                             "num_layers": ("INT", {"default": 1, "min": 1, "max": 8}),
                             "weight_seed": ("INT", {"default": 0})}}

    RETURN_TYPES = ("MODEL",)
    FUNCTION = "build"
    CATEGORY = "squeeze_test"

    def build(self, context_dim, num_layers, weight_seed):
        return (build_model("qwen_image_edit_2509", context_dim, lambda module: initialise(module, weight_seed),
                            num_layers),)


class SqueezeTestTinyQwenControlNet:
    """An InstantX-style Qwen-Image ControlNet at the tiny model's width, wrapped as the stock loader wraps one."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"context_dim": ("INT", {"default": 32, "min": 8, "max": 4096}),
                             "weight_seed": ("INT", {"default": 0})}}

    RETURN_TYPES = ("CONTROL_NET",)
    FUNCTION = "build"
    CATEGORY = "squeeze_test"

    def build(self, context_dim, weight_seed):
        config = tiny_qwen_image_config(context_dim, 1)
        model = QwenImageControlNetModel(operations=comfy.ops.disable_weight_init, dtype=torch.float32, **config)
        initialise(model, weight_seed)
        return (comfy.controlnet.ControlNet(model, compression_ratio=1, latent_format=comfy.latent_formats.Wan21(),
                                            load_device=mm.get_torch_device(), manual_cast_dtype=None,
                                            extra_conds=[]),)


def _tiny_qwen_image_te(text_config: dict):
    """ComfyUI's qwen_image text encoder classes with the language model's sizes from text_config and a
    two-block vision tower (the stock class always builds the 7B one)."""

    class TinyLanguageModel(Qwen25_7BVLI):
        def __init__(self, config_dict, dtype, device, operations):
            super().__init__(config_dict, dtype, device, operations)
            self.visual = Qwen2VLVisionTransformer(hidden_size=32, output_hidden_size=config_dict["hidden_size"],
                                                   intermediate_size=64, num_heads=2, num_layers=2, device=device,
                                                   dtype=dtype, ops=operations)

    class TinyEncoder(sd1_clip.SDClipModel):
        def __init__(self, device="cpu", layer="last", layer_idx=None, dtype=None, attention_mask=True,
                     model_options={}):
            super().__init__(device=device, layer=layer, layer_idx=layer_idx, textmodel_json_config=text_config,
                             dtype=dtype, special_tokens={"pad": 151643}, layer_norm_hidden_state=False,
                             model_class=TinyLanguageModel, enable_attention_masks=attention_mask,
                             return_attention_masks=attention_mask, model_options=model_options)

    class TinyTextEncoder(QwenImageTEModel):
        def __init__(self, device="cpu", dtype=None, model_options={}):
            sd1_clip.SD1ClipModel.__init__(self, device=device, dtype=dtype, name="qwen25_7b",
                                           clip_model=TinyEncoder, model_options=model_options)

    return TinyTextEncoder


class SqueezeTestTinyQwenImageCLIP:
    """What CLIPLoader (type qwen_image) gives, at tiny depth: ComfyUI's own Qwen2.5-VL classes and tokenizer.

    The stock loader only builds the 7B sizes, so the workflow tests swap CLIPLoader for this node."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"hidden_size": ("INT", {"default": 3584, "min": 64, "max": 3584, "step": 64}),
                             "num_layers": ("INT", {"default": 1, "min": 1, "max": 4}),
                             "weight_seed": ("INT", {"default": 0})}}

    RETURN_TYPES = ("CLIP",)
    FUNCTION = "build"
    CATEGORY = "squeeze_test"

    def build(self, hidden_size, num_layers, weight_seed):
        text_config = {"hidden_size": hidden_size, "intermediate_size": 2 * hidden_size,
                       "num_hidden_layers": num_layers, "num_attention_heads": max(2, hidden_size // 128),
                       "num_key_value_heads": 2}
        target = comfy.supported_models_base.ClipTarget(QwenImageTokenizer, _tiny_qwen_image_te(text_config))
        clip = comfy.sd.CLIP(target=target, model_options={"dtype": torch.float32})
        initialise(clip.cond_stage_model, weight_seed)
        return (clip,)


class SqueezeTestSaveConditioning:
    """Writes a CONDITIONING's tensors (context, mask, reference latents) to a safetensors file in output/."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"conditioning": ("CONDITIONING",), "file_name": ("STRING", {"default": "cond"})}}

    RETURN_TYPES = ()
    FUNCTION = "save"
    OUTPUT_NODE = True
    CATEGORY = "squeeze_test"

    def save(self, conditioning, file_name):
        tensors = {}
        for index, (context, extras) in enumerate(conditioning):
            tensors[f"{index}.context"] = context
            if extras.get("attention_mask") is not None:
                tensors[f"{index}.attention_mask"] = extras["attention_mask"]
            for k, latent in enumerate(extras.get("reference_latents") or []):
                tensors[f"{index}.reference_latents.{k}"] = latent
        tensors = {name: value.detach().float().contiguous().cpu() for name, value in tensors.items()}
        save_file(tensors, os.path.join(folder_paths.get_output_directory(), f"{file_name}.safetensors"))
        return ()


class SqueezeTestSaveSigmas:
    """Writes a SIGMAS to output/<file_name>.safetensors, so a test can hand the same sigmas to another sampler."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"sigmas": ("SIGMAS",), "file_name": ("STRING", {"default": "sigmas"})}}

    RETURN_TYPES = ()
    FUNCTION = "save"
    OUTPUT_NODE = True
    CATEGORY = "squeeze_test"

    def save(self, sigmas, file_name):
        save_file({"sigmas": sigmas.detach().float().contiguous().cpu()},
                  os.path.join(folder_paths.get_output_directory(), f"{file_name}.safetensors"))
        return ()


class SqueezeTestDropImageTokens:
    """What semantic weight 0 must equal: the conditioning with the MLLM's image tokens cut out."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"conditioning": ("CONDITIONING",)}}

    RETURN_TYPES = ("CONDITIONING",)
    FUNCTION = "drop"
    CATEGORY = "squeeze_test"

    def drop(self, conditioning):
        out = []
        for context, extras in conditioning:
            roles = extras["squeeze_token_roles"]
            keep = (roles < 3).all(dim=0)
            extras = {**extras, "squeeze_token_roles": roles[:, keep]}
            if extras.get("attention_mask") is not None:
                extras["attention_mask"] = extras["attention_mask"][:, keep.to(extras["attention_mask"].device)]
            out.append([context[:, keep.to(context.device)], extras])
        return (out,)


class SqueezeTestPadConditioning:
    """The conditioning padded with masked tokens, as a batch of prompts of different lengths is: zero tokens
    of role PAD at the end, and an attention_mask that masks them."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"conditioning": ("CONDITIONING",), "tokens": ("INT", {"default": 5, "min": 1})}}

    RETURN_TYPES = ("CONDITIONING",)
    FUNCTION = "pad"
    CATEGORY = "squeeze_test"

    def pad(self, conditioning, tokens):
        out = []
        for context, extras in conditioning:
            roles = extras["squeeze_token_roles"]
            mask = torch.ones(context.shape[0], context.shape[1] + tokens, dtype=torch.long)
            mask[:, context.shape[1]:] = 0
            out.append([torch.cat([context, context.new_zeros(context.shape[0], tokens, context.shape[2])], 1),
                        {**extras, "attention_mask": mask,
                         "squeeze_token_roles": torch.cat([roles, roles.new_zeros(roles.shape[0], tokens)], 1)}])
        return (out,)


class SqueezeTestKeyWeightMethod:
    """Forces how the stage samplers weight keys (fold, mask or auto) on this model, so the CPU can run the fold
    that GPUs use."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": ("MODEL",), "method": (["auto", "fold", "mask"],)}}

    RETURN_TYPES = ("MODEL",)
    FUNCTION = "patch"
    CATEGORY = "squeeze_test"

    def patch(self, model, method):
        patched = model.clone()
        patched.model_options["squeeze_key_weight_method"] = method
        return (patched,)


class SqueezeTestInspectModel:
    """Writes what a model carries after it was used (model options, wrappers, attention overrides) to a JSON
    file in the output folder, so a test can check that nothing was left behind."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": ("MODEL",), "file_name": ("STRING", {"default": "model_state.json"}),
                             "nonce": ("INT", {"default": 0})}}

    RETURN_TYPES = ()
    FUNCTION = "inspect"
    OUTPUT_NODE = True
    CATEGORY = "squeeze_test"

    def inspect(self, model, file_name, nonce):
        options = model.model_options
        transformer = options.get("transformer_options", {})
        state = {"model_options": sorted(options), "transformer_options": sorted(transformer),
                 "wrappers": sorted(str(key) for key in getattr(model, "wrappers", {}) or {}),
                 "callbacks": sorted(str(key) for key in getattr(model, "callbacks", {}) or {}),
                 "object_patches": sorted(getattr(model, "object_patches", {}) or {}),
                 "patches": len(getattr(model, "patches", {}) or {})}
        with open(os.path.join(folder_paths.get_output_directory(), file_name), "w", encoding="utf-8") as handle:
            json.dump(state, handle)
        return {}


class SqueezeTestRecordCalls:
    """Records, for every diffusion-model call, the sigma, context length and reference-latent count."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": ("MODEL",), "log_name": ("STRING", {"default": "calls.jsonl"})}}

    RETURN_TYPES = ("MODEL",)
    FUNCTION = "patch"
    CATEGORY = "squeeze_test"

    def patch(self, model, log_name):
        path = os.path.join(folder_paths.get_output_directory(), log_name)

        def record(apply_model, args):
            c = args["c"]
            references = c.get("ref_latents") or []
            entry = {"sigma": float(args["timestep"].flatten()[0]), "batch": int(args["input"].shape[0]),
                     "context_tokens": int(c["c_crossattn"].shape[1]), "references": len(references),
                     "control": c.get("control") is not None,
                     "reference_shapes": [list(r.shape) for r in references]}
            with open(path, "a", encoding="utf-8") as log:
                log.write(json.dumps(entry) + "\n")
            return apply_model(args["input"], args["timestep"], **c)

        patched = model.clone()
        patched.set_model_unet_function_wrapper(record)
        return (patched,)


NODE_CLASS_MAPPINGS = {
    "SqueezeTestTinyQwenImage": SqueezeTestTinyQwenImage,
    "SqueezeTestRecordCalls": SqueezeTestRecordCalls,
    "SqueezeTestTinyQwenImageCLIP": SqueezeTestTinyQwenImageCLIP,
    "SqueezeTestSaveConditioning": SqueezeTestSaveConditioning,
    "SqueezeTestSaveSigmas": SqueezeTestSaveSigmas,
    "SqueezeTestDropImageTokens": SqueezeTestDropImageTokens,
    "SqueezeTestTinyQwenControlNet": SqueezeTestTinyQwenControlNet,
    "SqueezeTestTinyModel": SqueezeTestTinyModel,
    "SqueezeTestPadConditioning": SqueezeTestPadConditioning,
    "SqueezeTestKeyWeightMethod": SqueezeTestKeyWeightMethod,
    "SqueezeTestChannelsLatent": SqueezeTestChannelsLatent,
    "SqueezeTestInspectModel": SqueezeTestInspectModel,
    "SqueezeTestFamilyLatent": SqueezeTestFamilyLatent,
}
