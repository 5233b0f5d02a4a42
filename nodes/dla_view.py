"""A picture of a DLA's pooling over the MLLM's layers for given features."""

from __future__ import annotations

import torch
from comfy_api.latest import io

from ..squeeze_core.dla_view import render_layer_weights

from .errors import node_errors
from .input_checks import CheckedNode
from .types import DLA, FEATURES


class SqueezeDLAView(CheckedNode):
    DISPLAY = "Squeeze DLA View"

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SqueezeDLAView",
            display_name=cls.DISPLAY,
            category="squeeze/conditioning",
            description="Draws how much each MLLM layer weighs in a DLA's pooling, for the text stream and the image "
            "stream of the given features: bars of the mean over tokens, or a token-by-layer heat map, with how "
            "open each stream's gate is (0: the DLA passes the final layer through unchanged).",
            inputs=[DLA.Input("dla", tooltip="From Squeeze DLA Loader."),
                    FEATURES.Input("features", tooltip="From Squeeze MLLM Joint Encode or Squeeze CLIP Joint Encode."),
                    io.Boolean.Input("per_token", default=False,
                                     tooltip="Off: one bar per layer, the mean over the stream's tokens. On: one row "
                                     "per token (first batch item), one column per layer.")],
            outputs=[io.Image.Output(display_name="image", tooltip="A 640x264 picture, text stream left, image stream "
                                     "right.")],
        )

    @classmethod
    def execute(cls, dla, features, per_token: bool) -> io.NodeOutput:
        with node_errors(cls.DISPLAY):
            view = dla.ready().layer_weights(features)
        return io.NodeOutput(torch.from_numpy(render_layer_weights(view, per_token)).float().div(255.0)[None])
