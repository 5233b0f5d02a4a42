"""Joint-encode nodes: instruction and reference pictures through one MLLM, every layer kept."""

from __future__ import annotations

import comfy.model_management as mm
from comfy_api.latest import io

from .engine.clip_joint import encode_with_clip
from .errors import node_errors
from .images import connected_images, image_inputs
from .input_checks import CheckedNode
from .types import FEATURES, MLLM


def _prompt_input() -> io.String.Input:
    return io.String.Input("prompt", multiline=True, dynamic_prompts=True,
                           tooltip="The instruction. Name the references as 'Picture 1', 'Picture 2', ... "
                           "(e.g. 'Put the toy from Picture 1 on a beach at sunset').")


def vision_input() -> io.Int.Input:
    return io.Int.Input("vision_resolution", default=384, min=16, max=2048, step=4,
                        tooltip="Each picture reaches the MLLM's vision tower at about this many pixels squared "
                        "(aspect kept), rounded to what its image processor accepts. 384 is what Qwen-Image-Edit-Plus "
                        "uses; larger costs more tokens. The miniature's MLLM sees 16.")


def labels_input() -> io.Boolean.Input:
    return io.Boolean.Input("picture_labels", default=True,
                            tooltip="Write 'Picture 1: ', 'Picture 2: ' before each picture, as "
                            "Qwen-Image-Edit-2509 does. Off gives the first Qwen-Image-Edit's one-picture prompt.")


def _features_output() -> io.Output:
    return FEATURES.Output(display_name="features",
                           tooltip="Every MLLM layer of the joint encoding, each token tagged template, text or "
                           "image k: for Squeeze DLA Aggregate.")


class SqueezeMLLMEncode(CheckedNode):
    DISPLAY = "Squeeze MLLM Joint Encode"

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SqueezeMLLMEncode",
            display_name=cls.DISPLAY,
            category="squeeze/conditioning",
            description="Encodes the instruction and up to four reference pictures together in one chat prompt "
            "of a transformers MLLM, keeping the hidden states of every layer.",
            inputs=[MLLM.Input("mllm", tooltip="From Squeeze MLLM Loader."), _prompt_input(),
                    *image_inputs("seen by the MLLM"), vision_input(), labels_input()],
            outputs=[_features_output()],
        )

    @classmethod
    def execute(cls, mllm, prompt: str, vision_resolution: int, picture_labels: bool = True,
                **images) -> io.NodeOutput:
        with node_errors(cls.DISPLAY):
            encoder = mllm.ready()
            features = encoder.encode(prompt, connected_images(**images),
                                      vision_pixel_budget=vision_resolution * vision_resolution,
                                      picture_labels=picture_labels)
        return io.NodeOutput(features.to(mm.intermediate_device()))


class SqueezeCLIPJointEncode(CheckedNode):
    DISPLAY = "Squeeze CLIP Joint Encode"

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SqueezeCLIPJointEncode",
            display_name=cls.DISPLAY,
            category="squeeze/conditioning",
            description="Joint encoding with the Qwen2.5-VL text encoder you already use for Qwen-Image-Edit "
            "(CLIPLoader, type qwen_image): instruction and pictures in one prompt, every layer kept.",
            inputs=[io.Clip.Input("clip", tooltip="A Qwen2.5-VL text encoder loaded with CLIPLoader, type "
                                  "qwen_image."),
                    _prompt_input(), *image_inputs("seen by the text encoder"), vision_input(), labels_input()],
            outputs=[_features_output()],
        )

    @classmethod
    def execute(cls, clip, prompt: str, vision_resolution: int, picture_labels: bool = True,
                **images) -> io.NodeOutput:
        with node_errors(cls.DISPLAY):
            features = encode_with_clip(clip, prompt, connected_images(**images),
                                        vision_resolution * vision_resolution, picture_labels)
        return io.NodeOutput(features.to(mm.intermediate_device()))
