"""The stage-schedule front doors: a GUIDER for SamplerCustomAdvanced and a KSampler with a schedule."""

from __future__ import annotations

import comfy.model_management
import comfy.sample
import comfy.samplers
import comfy.utils
import latent_preview
from comfy_api.latest import io

from ..squeeze_core.schedule import PRESETS, StageSchedule, schedule_from_preset

from .errors import node_errors
from .input_checks import CheckedNode
from .engine.stage_guider import StageGuider


def schedule_inputs() -> list[io.Input]:
    return [
        io.Combo.Input("schedule", options=list(PRESETS), default="paper",
                       tooltip="always: references on every step (stock behaviour). paper: MLLM only, then MLLM and "
                       "VAE, then VAE-focused. semantic_first: identity ramps in between the two switches. "
                       "custom: the breakpoint texts below."),
        io.Float.Input("switch_1", default=0.05, min=0.0, max=1.0, step=0.01,
                       tooltip="Fraction of the trajectory (0 = pure noise) where the references come in "
                       "(paper: 0.05, i.e. noise level 0.95) or where the identity ramp starts."),
        io.Float.Input("switch_2", default=0.15, min=0.0, max=1.0, step=0.01,
                       tooltip="Where the VAE-focused phase begins (paper: 0.15, noise level 0.85) or the ramp "
                       "reaches full identity."),
        io.Float.Input("identity_strength", default=1.0, min=0.0, max=2.0, step=0.05,
                       tooltip="Global weight of the references' VAE latents: 0 leaves them out, below 1 fades "
                       "them inside attention, up to 2 stresses them. Each reference's own strength multiplies it."),
        io.Float.Input("semantic_strength", default=1.0, min=0.0, max=2.0, step=0.05,
                       tooltip="Global weight of the MLLM's image tokens in the context, in the same way."),
        io.String.Input("semantic_breakpoints", default="0:1, 0.15:1, 0.15:0", optional=True,
                        tooltip="custom only: progress:weight pairs for the MLLM's image tokens."),
        io.String.Input("identity_breakpoints", default="0:0, 0.05:0, 0.05:1", optional=True,
                        tooltip="custom only: progress:weight pairs for the reference latents."),
        io.Float.Input("release_regions_at", default=1.0, min=0.0, max=1.0, step=0.01, optional=True,
                       tooltip="Where the references' regions (Squeeze Reference Region) let go: they bind from "
                       "the first step up to this fraction of the trajectory, then every reference may reach the "
                       "whole image. 1 binds throughout; e.g. 0.6 places the subjects early and lets the "
                       "late steps blend their edges."),
    ]


def build_schedule(display: str, schedule: str, switch_1: float, switch_2: float, identity_strength: float,
                   semantic_strength: float, semantic_breakpoints: str = "", identity_breakpoints: str = "",
                   release_regions_at: float = 1.0) -> StageSchedule:
    with node_errors(display):
        return schedule_from_preset(schedule, switch_1=switch_1, switch_2=switch_2,
                                    identity_strength=identity_strength, semantic_points=semantic_breakpoints,
                                    identity_points=identity_breakpoints, semantic_strength=semantic_strength,
                                    release_regions_at=release_regions_at)


def _cfg_input() -> io.Float.Input:
    return io.Float.Input("cfg", default=2.5, min=0.0, max=100.0, step=0.1, round=0.01,
                          tooltip="Classifier-free guidance scale (the paper uses 2.5).")


def sampling_sigmas(model, steps: int, scheduler: str, denoise: float, sampler_name: str = "euler"):
    """The sigmas the stock KSampler would use (denoise below 1 keeps the tail of a longer schedule)."""
    return comfy.samplers.KSampler(model, steps=steps, device=model.load_device, sampler=sampler_name,
                                   scheduler=scheduler, denoise=denoise, model_options=model.model_options).sigmas


def make_guider(model, positive, negative, cfg: float, schedule: StageSchedule) -> StageGuider:
    guider = StageGuider(model, schedule)
    guider.set_conds(positive, negative)
    guider.set_cfg(cfg)
    return guider


def sample_stages(model, seed: int, steps: int, cfg: float, sampler_name: str, scheduler: str, positive, negative,
                  latent_image: dict, denoise: float, schedule: StageSchedule):
    """What the stock KSampler does (noise from the seed and batch index, previews, progress, interrupt), guided by
    the stage schedule; returns the denoised samples."""
    guider = make_guider(model, positive, negative, cfg, schedule)
    latent = comfy.sample.fix_empty_latent_channels(model, latent_image["samples"])
    noise = comfy.sample.prepare_noise(latent, seed, latent_image.get("batch_index"))
    sigmas = sampling_sigmas(model, steps, scheduler, denoise, sampler_name)
    samples = guider.sample(noise, latent, comfy.samplers.sampler_object(sampler_name), sigmas,
                            denoise_mask=latent_image.get("noise_mask"),
                            callback=latent_preview.prepare_callback(model, steps),
                            disable_pbar=not comfy.utils.PROGRESS_BAR_ENABLED, seed=seed)
    return samples.to(comfy.model_management.intermediate_device())


def sampler_inputs() -> list[io.Input]:
    """The stock KSampler's seed, steps, cfg, sampler and scheduler widgets."""
    return [
        io.Int.Input("seed", default=0, min=0, max=0xFFFFFFFFFFFFFFFF, control_after_generate=True,
                     tooltip="The random seed used for creating the noise."),
        io.Int.Input("steps", default=20, min=1, max=10000, tooltip="Number of denoising steps."),
        _cfg_input(),
        io.Combo.Input("sampler_name", options=comfy.samplers.KSampler.SAMPLERS, tooltip="The sampling algorithm."),
        io.Combo.Input("scheduler", options=comfy.samplers.KSampler.SCHEDULERS,
                       tooltip="How noise levels are spaced over the steps."),
    ]


def denoise_input() -> io.Float.Input:
    return io.Float.Input("denoise", default=1.0, min=0.0, max=1.0, step=0.01,
                          tooltip="Below 1 keeps part of the input latent (image to image).")


class SqueezeStageGuider(CheckedNode):
    DISPLAY = "Squeeze Stage Guider"

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SqueezeStageGuider",
            display_name=cls.DISPLAY,
            category="squeeze/sampling",
            description="CFG guidance with a stage schedule, as a stock GUIDER: plug it into SamplerCustomAdvanced "
            "and keep your own noise, sampler and sigmas. The same mechanism as Squeeze Multi-Stage KSampler.",
            inputs=[
                io.Model.Input("model", tooltip="The diffusion model (e.g. Qwen-Image-Edit)."),
                io.Conditioning.Input("positive", tooltip="From Squeeze VAE Identity Encode (or any conditioning)."),
                io.Conditioning.Input("negative", tooltip="What to steer away from."),
                _cfg_input(),
                *schedule_inputs(),
            ],
            outputs=[io.Guider.Output(display_name="guider", tooltip="For SamplerCustomAdvanced.")],
        )

    @classmethod
    def execute(cls, model, positive, negative, cfg, **schedule) -> io.NodeOutput:
        return io.NodeOutput(make_guider(model, positive, negative, cfg, build_schedule(cls.DISPLAY, **schedule)))


class SqueezeMultiStageKSampler(CheckedNode):
    DISPLAY = "Squeeze Multi-Stage KSampler"

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SqueezeMultiStageKSampler",
            display_name=cls.DISPLAY,
            category="squeeze/sampling",
            description="The stock KSampler with a stage schedule: early steps follow the MLLM's semantics "
            "(layout, pose), later steps bring in the references' VAE identity, which avoids copy-paste. "
            "With schedule 'always' it is the stock KSampler exactly.",
            inputs=[
                io.Model.Input("model", tooltip="The diffusion model (e.g. Qwen-Image-Edit)."),
                *sampler_inputs(),
                io.Conditioning.Input("positive", tooltip="From Squeeze VAE Identity Encode (or any conditioning)."),
                io.Conditioning.Input("negative", tooltip="What to steer away from."),
                io.Latent.Input("latent_image", tooltip="The latent to denoise."),
                denoise_input(),
                *schedule_inputs(),
            ],
            outputs=[io.Latent.Output(display_name="latent", tooltip="The denoised latent.")],
        )

    @classmethod
    def execute(cls, model, seed, steps, cfg, sampler_name, scheduler, positive, negative, latent_image, denoise,
                **schedule) -> io.NodeOutput:
        out = dict(latent_image)
        out["samples"] = sample_stages(model, seed, steps, cfg, sampler_name, scheduler, positive, negative,
                                       latent_image, denoise, build_schedule(cls.DISPLAY, **schedule))
        return io.NodeOutput(out)
