"""The miniature's VAE: a narrow Qwen-Image (Wan 2.1) VAE trained on the domain's images, then calibrated
so its latents have the per-channel statistics that Qwen-Image's latent normalisation expects."""

from __future__ import annotations

import torch

from .loop import train
from .patch_basis import PatchBasis
from ..tiny_vae import VAESizes, build_tiny_vae


INITIAL_LOG_VARIANCE = -8.0
"""The posterior is nearly deterministic: training fits its means only, and a unit variance would drown
them in every latent sampled from it."""


def build_vae(sizes: VAESizes, seed: int):
    vae = build_tiny_vae(sizes, seed)
    with torch.no_grad():
        vae.quant_conv.bias[sizes.z_dim:] = INITIAL_LOG_VARIANCE
    return vae


def to_vae_pixels(images: torch.Tensor) -> torch.Tensor:
    """uint8 [B, 3, H, W] into the VAE's [-1, 1] video input [B, 3, 1, H, W]."""
    return (images.float() / 127.5 - 1.0).unsqueeze(2)


def random_crops(images: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
    """One ``size`` x ``size`` crop of each image, on the 8-pixel latent grid."""
    count, side = len(images), images.shape[-1]
    offsets = torch.randint(0, (side - size) // 8 + 1, (count, 2), generator=generator) * 8
    return torch.stack([image[:, top:top + size, left:left + size]
                        for image, (top, left) in zip(images, offsets.tolist())])


def train_vae(accelerator, images: torch.Tensor, sizes: VAESizes, *, steps: int, batch: int = 32, crop: int = 32,
              learning_rate: float = 2e-3, basis_samples: int = 2048, seed: int = 0):
    """From a linear start (``patch_basis``): the decoder learns to draw the patch-basis latents of random
    crops (L1 + squared error), the encoder to compute them (squared error), in one loop. The VAE is
    convolutional and the domain's detail local, so crops teach it as well as whole images at a fraction of
    the cost. ``refine_decoder`` then fits the decoder to the encoder's own latents."""
    vae = build_vae(sizes, seed)
    basis = PatchBasis.fit(to_vae_pixels(images[:basis_samples]), sizes.z_dim)
    generator = torch.Generator().manual_seed(seed * 31 + accelerator.process_index)

    def loss(indices: torch.Tensor, step: int, modules: list[torch.nn.Module]) -> torch.Tensor:
        (model,) = modules
        pixels = to_vae_pixels(random_crops(images[indices], crop, generator)).to(accelerator.device)
        wanted = basis.latents(pixels)
        decoded, encoded = model(pixels, wanted)
        error = decoded - pixels
        return error.abs().mean() + error.square().mean() + (encoded - wanted).square().mean()

    (trained,) = train(accelerator, [LinearStart(vae)], loss, size=len(images), batch=batch, steps=steps,
                       learning_rate=learning_rate, label="vae", seed=seed, log_every=50)
    return calibrate_latents(trained.vae, images[:512], basis.channel_scales())


def refine_decoder(accelerator, vae, images: torch.Tensor, *, steps: int, batch: int = 16,
                   latent_noise: float = 0.2, learning_rate: float = 3e-4, seed: int = 0):
    """Train the decoder alone on whole images from noisy latents (each channel's noise relative to its
    spread), the encoder frozen so the latents the diffusion model learns stay as they are. Crops never
    show the decoder's mid-block attention a whole image, and a diffusion model's latents are never exact:
    without this, smooth grounds (sand most) decode near-miss latents into saturated blobs that read as
    extra subjects."""
    vae.requires_grad_(False)
    for module in (vae.post_quant_conv, vae.decoder):
        module.requires_grad_(True)
    generator = torch.Generator().manual_seed(seed * 37 + accelerator.process_index)
    spread = latent_means(vae, images[:64]).std(dim=(0, 2, 3, 4)).view(1, -1, 1, 1, 1)

    def loss(indices: torch.Tensor, step: int, modules: list[torch.nn.Module]) -> torch.Tensor:
        (model,) = modules
        pixels = to_vae_pixels(images[indices]).to(accelerator.device)
        strength = torch.rand(len(indices), 1, 1, 1, 1, generator=generator) * latent_noise
        noise = torch.randn((len(indices), vae.config.z_dim, 1, *[n // 8 for n in pixels.shape[-2:]]),
                            generator=generator) * strength * spread
        error = model(pixels, noise.to(accelerator.device)) - pixels
        return error.abs().mean() + error.square().mean()

    (trained,) = train(accelerator, [NoisyDecoding(vae)], loss, size=len(images), batch=batch, steps=steps,
                       learning_rate=learning_rate, label="vae decoder", seed=seed, log_every=50)
    return trained.vae.requires_grad_(False)


class NoisyDecoding(torch.nn.Module):
    """Decode the frozen encoder's posterior means plus noise; the forward a distributed wrapper sees."""

    def __init__(self, vae: torch.nn.Module):
        super().__init__()
        self.vae = vae

    def forward(self, pixels: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            means = self.vae.encode(pixels).latent_dist.mean
        return self.vae.decode(means + noise).sample


class LinearStart(torch.nn.Module):
    """Decode the given latents and encode the pixels (posterior means) as one forward, so a distributed
    wrapper sees the whole computation."""

    def __init__(self, vae: torch.nn.Module):
        super().__init__()
        self.vae = vae

    def forward(self, pixels: torch.Tensor, latents: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.vae.decode(latents).sample, self.vae.encode(pixels).latent_dist.mean


@torch.no_grad()
def latent_means(vae, images: torch.Tensor, chunk: int = 64) -> torch.Tensor:
    """The posterior means [B, C, 1, h, w] of uint8 ``images``, encoded ``chunk`` at a time."""
    return torch.cat([vae.encode(to_vae_pixels(images[i:i + chunk])).latent_dist.mean
                      for i in range(0, len(images), chunk)])


@torch.no_grad()
def calibrate_latents(vae, images: torch.Tensor, channel_scales: torch.Tensor | None = None):
    """Rescale the latent channels (exactly, through the two 1x1 convolutions around the latent) so the
    posterior means over ``images`` have the mean of ``latents_mean`` and the std of ``latents_std`` times
    ``channel_scales`` (default 1): the fixed normalisation ComfyUI and diffusers apply to Qwen-Image latents
    then yields latents whose channels have those scales."""
    z_dim = vae.config.z_dim
    channels = latent_means(vae, images).transpose(0, 1).flatten(1)
    target_mean = torch.tensor(vae.config.latents_mean)
    target_std = torch.tensor(vae.config.latents_std) * (1.0 if channel_scales is None else channel_scales)
    scale = target_std / channels.std(dim=1).clamp_min(1e-6)
    shift = target_mean - scale * channels.mean(dim=1)
    quant = vae.quant_conv
    quant.weight[:z_dim] *= scale.view(-1, *([1] * (quant.weight.ndim - 1)))
    quant.bias[:z_dim] = quant.bias[:z_dim] * scale + shift
    quant.bias[z_dim:] += 2 * scale.log()
    post = vae.post_quant_conv
    shift_in = (post.weight * (shift / scale).view(1, -1, *([1] * (post.weight.ndim - 2)))).sum(dim=tuple(
        range(1, post.weight.ndim)))
    post.bias -= shift_in
    post.weight /= scale.view(1, -1, *([1] * (post.weight.ndim - 2)))
    return vae
