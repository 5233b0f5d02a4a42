"""A picture of the stage schedule an artist set, step by step, on the model's own noise levels."""

from __future__ import annotations

import comfy.samplers
import torch
from comfy_api.latest import io

from ..squeeze_core.schedule_preview import render_schedule

from .input_checks import CheckedNode
from .sampling import build_schedule, sampling_sigmas, schedule_inputs
from .engine.stage_guider import step_progress


MAX_PREVIEW_STEPS = 2000


class SqueezeSchedulePreview(CheckedNode):
    DISPLAY = "Squeeze Schedule Preview"

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SqueezeSchedulePreview",
            display_name=cls.DISPLAY,
            category="squeeze/sampling",
            description="Draws the semantic weight (blue) and the identity weight (orange) of every sampling step, "
            "and under them the steps where references' regions bind (green), "
            "computed from the model's own sigmas exactly as the Squeeze samplers compute them. Connect it to "
            "Preview Image beside your sampler, with the same settings.",
            inputs=[
                io.Model.Input("model", tooltip="The diffusion model: its noise levels decide where each step falls."),
                io.Int.Input("steps", default=20, min=1, max=MAX_PREVIEW_STEPS,
                             tooltip=f"As in the sampler (up to {MAX_PREVIEW_STEPS}: two pixels per step)."),
                io.Combo.Input("scheduler", options=comfy.samplers.KSampler.SCHEDULERS, tooltip="As in the sampler."),
                io.Float.Input("denoise", default=1.0, min=0.0, max=1.0, step=0.01, tooltip="As in the sampler."),
                *schedule_inputs(),
            ],
            outputs=[io.Image.Output(display_name="image", tooltip="One bar pair per step; 512x256, wider when "
                                     "there are more than 256 steps.")],
        )

    @classmethod
    def execute(cls, model, steps: int, scheduler: str, denoise: float, **schedule) -> io.NodeOutput:
        stages = build_schedule(cls.DISPLAY, **schedule)
        sigmas = sampling_sigmas(model, steps, scheduler, denoise)
        model_sampling = model.get_model_object("model_sampling")
        progresses = [step_progress(model_sampling, sigma) for sigma in sigmas[:-1]]
        picture = render_schedule(stages, progresses)
        return io.NodeOutput(torch.from_numpy(picture).float().div(255.0)[None])
