"""Tiny Qwen-Image VAEs (diffusers' ``AutoencoderKLQwenImage``, the Wan 2.1 architecture), built in one place
with deterministic random weights: the miniature trains one, the demo, the stand-ins and the tests use one."""

from __future__ import annotations

from dataclasses import dataclass

from .seeding import seeded


@dataclass(frozen=True)
class VAESizes:
    """A Qwen-Image (Wan 2.1) VAE, narrow: 8x spatial compression to 16 channels. Only the base width may
    differ from Qwen-Image's own: ComfyUI's VAELoader reads it from the weights and fixes the rest."""

    base_dim: int = 8
    z_dim: int = 16
    dim_mult: tuple[int, ...] = (1, 2, 4, 4)
    num_res_blocks: int = 2
    attn_scales: tuple[float, ...] = ()
    temperal_downsample: tuple[bool, ...] = (False, True, True)

    def kwargs(self) -> dict:
        return {name: list(value) if isinstance(value, tuple) else value for name, value in self.__dict__.items()}


def build_tiny_vae(sizes: VAESizes = VAESizes(), seed: int = 0):
    """A diffusers ``AutoencoderKLQwenImage`` of these sizes, its random weights drawn from ``seed``."""
    from diffusers import AutoencoderKLQwenImage

    with seeded(seed):
        return AutoencoderKLQwenImage(**sizes.kwargs())
