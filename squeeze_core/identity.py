"""VAE identity conditioning: each reference through the diffusion model's own VAE, one latent each.

The latents carry the fine detail (texture, print, small marks) that the MLLM's coarse image
tokens lose; models such as Qwen-Image-Edit, FLUX.1 Kontext and FLUX.2 read them as reference
tokens. Any ``encode(pixels) -> latents`` callable works; diffusers VAEs are adapted here.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch

from .images import ImageLike, resize_to_area, to_image_batch

DEFAULT_IDENTITY_PIXELS = 1024 * 1024

LatentEncoder = Callable[[torch.Tensor], torch.Tensor]
"""Takes pixels [B, 3, H, W] float in 0..1, returns the VAE latents of that batch."""


def prepare_reference_pixels(
    image: ImageLike, pixel_budget: int = DEFAULT_IDENTITY_PIXELS, multiple: int = 8, mode: str = "area"
) -> torch.Tensor:
    """One reference as [B, 3, H, W] in 0..1, resized to about ``pixel_budget`` pixels on a ``multiple`` grid.

    The defaults match ComfyUI's TextEncodeQwenImageEditPlus, so the same image gives the same latent.
    """
    return resize_to_area(to_image_batch(image), pixel_budget, multiple, mode)


def encode_identity(
    references: Sequence[ImageLike],
    encode: LatentEncoder | torch.nn.Module,
    *,
    pixel_budget: int = DEFAULT_IDENTITY_PIXELS,
    multiple: int = 8,
    mode: str = "area",
) -> list[torch.Tensor]:
    """One latent per reference (a reference holding B frames gives a latent of batch B). Frames are encoded one
    at a time: a video VAE (Qwen-Image's, in ComfyUI) would read a batch as the frames of one clip."""
    encoder = diffusers_vae_encoder(encode) if _is_diffusers_vae(encode) else encode
    latents = []
    for image in references:
        pixels = prepare_reference_pixels(image, pixel_budget, multiple, mode)
        latents.append(torch.cat([encoder(pixels[frame:frame + 1]) for frame in range(pixels.shape[0])]))
    return latents


def _is_diffusers_vae(candidate) -> bool:
    return isinstance(candidate, torch.nn.Module) and hasattr(candidate, "encode") and hasattr(candidate, "config")


def diffusers_vae_encoder(vae: torch.nn.Module, normalize: bool = True, sample: bool = False) -> LatentEncoder:
    """Adapt a diffusers VAE (AutoencoderKL, AutoencoderKLQwenImage, ...) to a LatentEncoder.

    ``normalize`` applies the latent normalisation the diffusers pipelines apply (``_latent_affine``); the
    mode of the posterior is used
    unless ``sample`` asks for a draw.
    """
    config = vae.config
    video_vae = is_video_vae(vae)

    @torch.no_grad()
    def encode(pixels: torch.Tensor) -> torch.Tensor:
        parameter = next(vae.parameters())
        x = (pixels * 2.0 - 1.0).to(device=parameter.device, dtype=parameter.dtype)
        if video_vae:
            x = x.unsqueeze(2)
        posterior = vae.encode(x).latent_dist
        latents = posterior.sample() if sample else posterior.mode()
        return _normalize(latents, config) if normalize else latents

    return encode


def is_video_vae(vae: torch.nn.Module) -> bool:
    """Whether a diffusers VAE takes [B, C, frames, H, W] (Qwen-Image's, a Wan video VAE) rather than images."""
    return hasattr(vae.config, "temperal_downsample")


def latent_channels(vae: torch.nn.Module) -> int:
    config = vae.config
    return config.z_dim if is_video_vae(vae) else config.latent_channels


def _normalize(latents: torch.Tensor, config) -> torch.Tensor:
    offset, scale, std = _latent_affine(config, latents)
    return (latents - offset) * scale / std


def denormalize(latents: torch.Tensor, config) -> torch.Tensor:
    """The VAE's raw latents of normalised ones (what its decoder and ComfyUI's saved latents hold)."""
    offset, scale, std = _latent_affine(config, latents)
    return latents * std / scale + offset


def _latent_affine(config, like: torch.Tensor) -> tuple:
    """(offset, scale, std) with normalised = (raw - offset) * scale / std, the diffusers pipelines' (and
    ComfyUI's latent formats') normalisation: per-channel mean and std for Qwen-Image, shift and scale for SD and
    FLUX. The factor that does not apply is 1, so either normalisation is computed exactly as they compute it."""
    mean = getattr(config, "latents_mean", None)
    std = getattr(config, "latents_std", None)
    if mean is not None and std is not None:
        shape = (1, len(mean)) + (1,) * (like.ndim - 2)
        return (torch.tensor(mean, dtype=like.dtype, device=like.device).view(shape), 1.0,
                torch.tensor(std, dtype=like.dtype, device=like.device).view(shape))
    return getattr(config, "shift_factor", None) or 0.0, getattr(config, "scaling_factor", None) or 1.0, 1.0
