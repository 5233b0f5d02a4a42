"""Conditioning nodes: MLLM features into a stock CONDITIONING, and VAE identity latents onto it."""

from __future__ import annotations

import comfy.model_management as mm
import torch
from comfy_api.latest import io

from ..squeeze_core.dla import base_conditioning
from ..squeeze_core.identity import encode_identity

from .errors import node_errors
from .images import IMAGE_SLOTS, connected_images, image_inputs
from .input_checks import CheckedNode
from .types import DLA, FEATURES, REFERENCE_STRENGTHS_KEY, ROLES_KEY


def aggregate(features, dla=None) -> list:
    """Stock conditioning from MLLM features: the DLA's context, or without a DLA the base model's own."""
    if dla is None:
        aggregated = base_conditioning(features)
    else:
        module = dla.ready()
        with torch.no_grad():
            aggregated = module(features)
    extras = {"pooled_output": None, ROLES_KEY: aggregated.roles.cpu()}
    if not bool(aggregated.attention_mask.all()):
        extras["attention_mask"] = aggregated.attention_mask.to(mm.intermediate_device())
    context = aggregated.context.to(device=mm.intermediate_device(), dtype=torch.float32)
    return [[context, extras]]


def vae_latent_encoder(vae):
    """A ComfyUI VAE as the core's LatentEncoder (pixels [B, 3, H, W] in 0..1 to latents)."""
    return lambda pixels: vae.encode(pixels.movedim(1, -1))


def identity_resolution_input() -> io.Int.Input:
    return io.Int.Input("identity_resolution", default=1024, min=64, max=4096, step=8,
                        tooltip="Each reference is resized to about this many pixels squared (aspect kept, sides a "
                        "multiple of 8) before the VAE; 1024 as the stock Qwen edit nodes do.")


def strength_inputs(what: str) -> list[io.Float.Input]:
    return [io.Float.Input(f"strength{k}", default=1.0, min=0.0, max=2.0, step=0.05, optional=True,
                           tooltip=f"Identity weight of {what} {k} (times the sampler's schedule and identity "
                           f"strength): 0 leaves it out, below 1 fades it, up to 2 stresses it. Only the Squeeze "
                           f"samplers read it; 1 everywhere is the stock behaviour.")
            for k in range(1, 5)]


def with_references(conditioning: list, latents: list[torch.Tensor], strengths: list[float]) -> list:
    """Append reference latents and their strengths to every entry, after any references already there."""
    out = []
    for context, extras in conditioning:
        extras = dict(extras)
        existing = list(extras.get("reference_latents") or [])
        previous = list(extras.get(REFERENCE_STRENGTHS_KEY, ()))
        previous += [1.0] * (len(existing) - len(previous))
        extras["reference_latents"] = existing + latents
        extras[REFERENCE_STRENGTHS_KEY] = previous + strengths
        out.append([context, extras])
    return out


class SqueezeDLAAggregate(CheckedNode):
    DISPLAY = "Squeeze DLA Aggregate"

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SqueezeDLAAggregate",
            display_name=cls.DISPLAY,
            category="squeeze/conditioning",
            description="Turns the MLLM's layers into the diffusion model's context with Dual Layer Aggregation. "
            "Without a DLA the base model's own conditioning passes through (last layer, template dropped), "
            "exactly as the stock Qwen-Image-Edit nodes give it.",
            inputs=[
                FEATURES.Input("features", tooltip="From Squeeze MLLM Joint Encode or Squeeze CLIP Joint Encode."),
                DLA.Input("dla", optional=True, tooltip="From Squeeze DLA Loader; leave empty for the base "
                          "model's own conditioning."),
            ],
            outputs=[io.Conditioning.Output(display_name="conditioning",
                                            tooltip="Stock conditioning: chain Squeeze VAE Identity Encode, "
                                            "ControlNets or any sampler.")],
        )

    @classmethod
    def execute(cls, features, dla=None) -> io.NodeOutput:
        with node_errors(cls.DISPLAY):
            return io.NodeOutput(aggregate(features, dla))


class SqueezeVAEIdentityEncode(CheckedNode):
    DISPLAY = "Squeeze VAE Identity Encode"

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SqueezeVAEIdentityEncode",
            display_name=cls.DISPLAY,
            category="squeeze/conditioning",
            description="Encodes each reference picture with the diffusion model's own VAE and attaches the "
            "latents as reference_latents (read by Qwen-Image-Edit, FLUX.1 Kontext, FLUX.2...): the fine "
            "identity detail the MLLM's tokens lose.",
            inputs=[
                io.Conditioning.Input("conditioning", tooltip="Usually from Squeeze DLA Aggregate."),
                io.Vae.Input("vae", tooltip="The diffusion model's VAE."),
                *image_inputs("encoded by the VAE; connect them in the same order as for the MLLM"),
                identity_resolution_input(),
                *strength_inputs("the reference of image"),
            ],
            outputs=[io.Conditioning.Output(display_name="conditioning",
                                            tooltip="The conditioning with one reference latent per picture.")],
        )

    @classmethod
    def execute(cls, conditioning, vae, identity_resolution: int, strength1: float = 1.0, strength2: float = 1.0,
                strength3: float = 1.0, strength4: float = 1.0, **images) -> io.NodeOutput:
        strengths = dict(zip(IMAGE_SLOTS, (strength1, strength2, strength3, strength4)))
        with node_errors(cls.DISPLAY):
            references = connected_images(**images)
            if not references:
                return io.NodeOutput(conditioning)
            latents = encode_identity(references, vae_latent_encoder(vae),
                                      pixel_budget=identity_resolution * identity_resolution, multiple=8)
        kept = [strengths[name] for name in IMAGE_SLOTS if images.get(name) is not None]
        return io.NodeOutput(with_references(conditioning, latents, kept))


class SqueezeReferenceStrengths(CheckedNode):
    DISPLAY = "Squeeze Reference Strengths"

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SqueezeReferenceStrengths",
            display_name=cls.DISPLAY,
            category="squeeze/conditioning",
            description="Sets the identity weight of each reference latent a conditioning already carries, in "
            "the order they were attached: references from stock ReferenceLatent chains (FLUX.1 Kontext, "
            "FLUX.2, Krea 2) or the stock Qwen edit encoders get per-reference weights in the Squeeze samplers. "
            "References after the fourth keep weight 1.",
            inputs=[
                io.Conditioning.Input("conditioning", tooltip="A conditioning with reference_latents."),
                *strength_inputs("reference"),
            ],
            outputs=[io.Conditioning.Output(display_name="conditioning",
                                            tooltip="The same conditioning with one strength per reference.")],
        )

    @classmethod
    def execute(cls, conditioning, strength1: float = 1.0, strength2: float = 1.0, strength3: float = 1.0,
                strength4: float = 1.0) -> io.NodeOutput:
        given = [strength1, strength2, strength3, strength4]
        out = []
        for context, extras in conditioning:
            count = len(extras.get("reference_latents") or [])
            out.append([context, {**extras, REFERENCE_STRENGTHS_KEY: given[:count]}])
        return io.NodeOutput(out)
