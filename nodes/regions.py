"""Region binding nodes: give a reference a place in the output, and draw the places over the target."""

from __future__ import annotations

import torch
from comfy_api.latest import io

from ..squeeze_core.region_binding import Region
from ..squeeze_core.region_preview import render_regions

from .engine.key_weights import model_patch_size, token_grid
from .errors import SqueezeNodeError, node_errors
from .images import image_uint8
from .input_checks import CheckedNode
from .types import REGIONS_KEY

MAX_REFERENCES = 16


def _reference_count(conditioning: list) -> int:
    return max((len(extras.get("reference_latents") or []) for _, extras in conditioning), default=0)


def with_region(conditioning: list, index: int, region: Region) -> list:
    """Every entry with ``region`` set for its reference ``index`` (0-based), other references' regions kept."""
    out = []
    for context, extras in conditioning:
        regions = list(extras.get(REGIONS_KEY, ()))
        regions += [None] * (index + 1 - len(regions))
        regions[index] = region
        out.append([context, {**extras, REGIONS_KEY: regions}])
    return out


def with_regions(conditioning: list, regions: list) -> list:
    """Every entry carrying ``regions`` (one Region or None per reference), whatever it carried before."""
    return [[context, {**extras, REGIONS_KEY: regions}] for context, extras in conditioning]


def conditioning_regions(conditioning: list) -> list:
    """The reference regions the first entry that has any carries (none: [])."""
    return next((extras.get(REGIONS_KEY) for _, extras in conditioning if extras.get(REGIONS_KEY)), [])


def _mask_plane(display: str, mask: torch.Tensor) -> torch.Tensor:
    plane = mask if mask.ndim == 2 else mask[0] if mask.ndim == 3 and mask.shape[0] == 1 else None
    if plane is None:
        raise SqueezeNodeError(f"{display}: the mask must be one mask, got a batch of shape {list(mask.shape)}; "
                               f"pick one (e.g. with ImageFromBatch on its image) or draw a single mask")
    return plane.float().cpu()


class SqueezeReferenceRegion(CheckedNode):
    DISPLAY = "Squeeze Reference Region"

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SqueezeReferenceRegion",
            display_name=cls.DISPLAY,
            category="squeeze/conditioning",
            description="Gives one reference a place in the output, so several subjects stay apart: target "
            "tokens outside the region attend less to that reference's latents and to its picture's MLLM image "
            "tokens (hard at strength 1). Chain one per reference, after the references are attached (Squeeze "
            "VAE Identity Encode or stock ReferenceLatent). Only the Squeeze samplers read it; a region over "
            "the whole image, or strength 0, changes nothing.",
            inputs=[
                io.Conditioning.Input("conditioning", tooltip="A conditioning that carries the reference."),
                io.Int.Input("reference", default=1, min=1, max=MAX_REFERENCES,
                             tooltip="Which reference, in the order they were attached (image1 is 1)."),
                io.Float.Input("strength", default=1.0, min=0.0, max=1.0, step=0.05,
                               tooltip="How hard the region binds: 0 off, 0.5 halves the reference's attention "
                               "outside it, 1 stops it there. The sampler's release_regions_at can let go late."),
                io.Float.Input("left", default=0.0, min=0.0, max=1.0, step=0.01,
                               tooltip="The box, in fractions of the output's width and height (used when no "
                               "mask is connected): left edge."),
                io.Float.Input("top", default=0.0, min=0.0, max=1.0, step=0.01, tooltip="Top edge of the box."),
                io.Float.Input("right", default=1.0, min=0.0, max=1.0, step=0.01, tooltip="Right edge of the box."),
                io.Float.Input("bottom", default=1.0, min=0.0, max=1.0, step=0.01, tooltip="Bottom edge of the box."),
                io.Mask.Input("mask", optional=True,
                              tooltip="A mask instead of the box (white: the reference's place), stretched over the "
                              "output; soft edges bind softly."),
            ],
            outputs=[io.Conditioning.Output(display_name="conditioning",
                                            tooltip="The same conditioning with the reference's region.")],
        )

    @classmethod
    def execute(cls, conditioning, reference: int, strength: float, left: float, top: float, right: float,
                bottom: float, mask: torch.Tensor | None = None) -> io.NodeOutput:
        count = _reference_count(conditioning)
        if reference > count:
            raise SqueezeNodeError(
                f"{cls.DISPLAY}: reference {reference} was asked for but the conditioning carries {count}; attach "
                f"the references first (Squeeze VAE Identity Encode or ReferenceLatent), then this node")
        with node_errors(cls.DISPLAY):
            if mask is None:
                region = Region(box=(left, top, right, bottom), strength=strength)
            else:
                region = Region(mask=_mask_plane(cls.DISPLAY, mask), strength=strength)
        return io.NodeOutput(with_region(conditioning, reference - 1, region))


class SqueezeRegionPreview(CheckedNode):
    DISPLAY = "Squeeze Region Preview"

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SqueezeRegionPreview",
            display_name=cls.DISPLAY,
            category="squeeze/conditioning",
            description="Draws each reference's region over the target's token grid, as the sampler binds it "
            "(reference 1 red, 2 blue, 3 green, 4 amber; the tint is the share of each token inside the "
            "region, times its strength). Connect it to Preview Image.",
            inputs=[
                io.Conditioning.Input("conditioning", tooltip="A conditioning with Squeeze Reference Regions."),
                io.Model.Input("model", tooltip="The diffusion model: its patch size sets the token grid."),
                io.Latent.Input("latent", tooltip="The latent the sampler will denoise: its size sets the grid."),
                io.Image.Input("image", optional=True, tooltip="A picture to draw over (e.g. a sketch of the "
                               "layout); grey without one."),
            ],
            outputs=[io.Image.Output(display_name="image", tooltip="The regions at the output's size.")],
        )

    @classmethod
    def execute(cls, conditioning, model, latent: dict, image: torch.Tensor | None = None) -> io.NodeOutput:
        samples = latent["samples"]
        patch_size = model_patch_size(model.get_model_object("diffusion_model"))
        if patch_size is None:
            raise SqueezeNodeError(f"{cls.DISPLAY}: this model has no patch size the pack knows, so its token "
                                   f"grid (and any region binding) is unknown; regions work with Qwen-Image, "
                                   f"FLUX.1, FLUX.2 and Krea 2")
        _, rows, columns = token_grid(samples, patch_size)
        downscale = getattr(model.get_model_object("latent_format"), "spacial_downscale_ratio", 8)
        size = (samples.shape[-1] * downscale, samples.shape[-2] * downscale)
        regions = conditioning_regions(conditioning)
        background = None if image is None else image_uint8(image[0])
        picture = render_regions(regions, (rows, columns), size, background)
        return io.NodeOutput(torch.from_numpy(picture).float().div(255.0)[None])
