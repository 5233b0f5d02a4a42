"""A subject encoded once and reused over instructions and seeds: its pictures, their MLLM prefix (every layer
and the key/value cache: ``PicturePrefix``) and their VAE latents. Each new instruction then costs only its own
tokens through the MLLM, and nothing through the VAE."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import torch

from .features import MLLMFeatures
from .identity import DEFAULT_IDENTITY_PIXELS, LatentEncoder, encode_identity
from .images import ImageLike, to_image_batch
from .joint_encoder import JointEncoder
from .picture_prefix import PicturePrefix


@dataclass
class Subject:
    pictures: list[torch.Tensor]
    """[H, W, 3] float32 in 0..1 each (ComfyUI's layout), as they were encoded."""
    prefix: PicturePrefix
    latents: list[torch.Tensor] = field(default_factory=list)
    """One VAE latent per picture, or none when no VAE was given."""

    def to(self, device: torch.device | str) -> Subject:
        return Subject([picture.to(device) for picture in self.pictures], self.prefix.to(device=device),
                       [latent.to(device) for latent in self.latents])

    def encode(self, encoder: JointEncoder, prompt: str | Sequence[str], *,
               layers: Sequence[int] | None = None) -> MLLMFeatures:
        """The joint encoding of each instruction with this subject's pictures."""
        return encoder.encode_after(prompt, self.prefix, layers=layers)


def encode_subject(
    encoder: JointEncoder,
    pictures: Sequence[ImageLike],
    vae: LatentEncoder | torch.nn.Module | None = None,
    *,
    vision_pixel_budget: int | None = None,
    picture_labels: bool = True,
    identity_pixel_budget: int = DEFAULT_IDENTITY_PIXELS,
) -> Subject:
    """Encode the pictures once for the MLLM and, when ``vae`` is given, for the diffusion model's VAE."""
    frames = [to_image_batch(picture).permute(0, 2, 3, 1) for picture in pictures]
    prefix = encoder.encode_pictures(frames, vision_pixel_budget=vision_pixel_budget, picture_labels=picture_labels)
    latents = [] if vae is None else encode_identity(frames, vae, pixel_budget=identity_pixel_budget)
    return Subject([frame[0] for frame in frames], prefix, latents)
