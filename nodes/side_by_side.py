"""Reference, instruction and result in one image: what a workflow saves to show the subject kept and the
instruction followed."""

from __future__ import annotations

import numpy as np
import torch
from comfy_api.latest import io

from ..squeeze_core.side_by_side import side_by_side

from .images import image_uint8
from .input_checks import CheckedNode


class SqueezeSideBySide(CheckedNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SqueezeSideBySide",
            display_name="Squeeze Side by Side",
            category="squeeze/image",
            description="Puts the reference(s), the result and the instruction in one picture (one per result in "
            "a batch), for sharing or comparing runs. Small images are scaled up without blurring.",
            inputs=[
                io.Image.Input("reference", tooltip="The reference picture(s) of the subject (Picture 1)."),
                io.Image.Input("reference2", optional=True,
                               tooltip="A second subject's picture (Picture 2), shown after the first."),
                io.Image.Input("result", tooltip="The generated image(s), e.g. from VAE Decode."),
                io.String.Input("prompt", multiline=True, default="",
                                tooltip="The instruction, written under the pictures; connect the same text the "
                                "encoder used. With one line per result (Squeeze Subject Batch Sampler's prompts), "
                                "line k goes under result k."),
                io.Int.Input("side", default=256, min=64, max=2048, step=8,
                             tooltip="Each picture's longer edge in the sheet, in pixels."),
            ],
            outputs=[io.Image.Output(display_name="image", tooltip="Reference, result and prompt: one sheet per result.")],
        )

    @classmethod
    def execute(cls, reference: torch.Tensor, result: torch.Tensor, prompt: str, side: int,
                reference2: torch.Tensor | None = None) -> io.NodeOutput:
        pictures = [image_uint8(images) for images in (reference, reference2) if images is not None]
        results = image_uint8(result)
        lines = prompt.splitlines()
        captions = lines if len(results) > 1 and len(lines) == len(results) else [prompt] * len(results)
        sheets = [side_by_side([images[min(index, len(images) - 1)] for images in pictures], image, caption, side)
                  for index, (image, caption) in enumerate(zip(results, captions))]
        return io.NodeOutput(torch.from_numpy(np.stack(sheets)).float().div(255.0))
