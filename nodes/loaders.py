"""Loader nodes: an MLLM folder (transformers) and a DLA file, from the pack's model folders."""

from __future__ import annotations


import comfy.model_management as mm
import folder_paths
import torch
from comfy_api.latest import io

from ..squeeze_core.files import load_dla
from ..squeeze_core.joint_encoder import JointEncoder

from .errors import node_errors
from .input_checks import CheckedNode
from .model_folders import DLA_FOLDER, MLLM_FOLDER, is_plain_name, list_model_folders, model_folder_path
from .engine.models import LoadedDLA, LoadedMLLM
from .types import DLA, MLLM

DTYPES = {"auto": None, "bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}


class SqueezeMLLMLoader(CheckedNode):
    DISPLAY = "Squeeze MLLM Loader"

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SqueezeMLLMLoader",
            display_name=cls.DISPLAY,
            category="squeeze/loaders",
            description="Loads a multimodal LLM (Qwen2-VL, Qwen2.5-VL, Qwen3-VL, ...) from a Hugging Face folder in "
            "models/mllm, to encode an instruction together with its reference pictures. Safetensors only; code "
            "shipped with a model is never run.",
            inputs=[
                io.Combo.Input("mllm_name", options=list_model_folders(MLLM_FOLDER),
                               tooltip="A folder in models/mllm holding config.json, *.safetensors, tokenizer and "
                               "processor files."),
                io.Combo.Input("dtype", options=list(DTYPES), default="auto",
                               tooltip="Weight precision. auto: bfloat16 on GPUs that support it, else float32."),
            ],
            outputs=[MLLM.Output(display_name="mllm", tooltip="The loaded MLLM, for Squeeze MLLM Encode.")],
        )

    @classmethod
    def check_inputs(cls, mllm_name: str, **_) -> bool | str:
        if not is_plain_name(mllm_name):
            return (f"{cls.DISPLAY}: '{mllm_name}' is not a folder name in models/mllm; pick one of its folders "
                    f"(a workflow never reads a path outside the model folders)")
        if model_folder_path(MLLM_FOLDER, mllm_name) is None:
            return (f"{cls.DISPLAY}: no folder named '{mllm_name}' in models/mllm; put the MLLM's Hugging Face "
                    f"folder there and refresh, or pick one from the list")
        return True

    @classmethod
    def execute(cls, mllm_name: str, dtype: str) -> io.NodeOutput:
        device = mm.text_encoder_device()
        chosen = DTYPES[dtype] or (torch.bfloat16 if mm.should_use_bf16(device) else torch.float32)
        with node_errors(cls.DISPLAY):
            encoder = JointEncoder.from_folder(model_folder_path(MLLM_FOLDER, mllm_name), dtype=chosen,
                                               device=mm.text_encoder_offload_device())
        return io.NodeOutput(LoadedMLLM.wrap(encoder))


class SqueezeDLALoader(CheckedNode):
    DISPLAY = "Squeeze DLA Loader"

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SqueezeDLALoader",
            display_name=cls.DISPLAY,
            category="squeeze/loaders",
            description="Loads a Dual Layer Aggregation module (safetensors, from models/squeeze_dla): it pools "
            "every MLLM layer per token into the diffusion model's context. Its config travels in the file.",
            inputs=[
                io.Combo.Input("dla_name", options=folder_paths.get_filename_list(DLA_FOLDER),
                               tooltip="A DLA file trained for the MLLM you encode with."),
            ],
            outputs=[DLA.Output(display_name="dla", tooltip="The DLA, for Squeeze DLA Aggregate.")],
        )

    @classmethod
    def check_inputs(cls, dla_name: str, **_) -> bool | str:
        if folder_paths.get_full_path(DLA_FOLDER, dla_name) is None:
            return (f"{cls.DISPLAY}: no file named '{dla_name}' in models/squeeze_dla; put the .safetensors file "
                    f"there and refresh, or pick one from the list")
        return True

    @classmethod
    def execute(cls, dla_name: str) -> io.NodeOutput:
        with node_errors(cls.DISPLAY):
            module = load_dla(folder_paths.get_full_path(DLA_FOLDER, dla_name), device=mm.unet_offload_device())
        return io.NodeOutput(LoadedDLA.wrap(module.eval().requires_grad_(False)))
