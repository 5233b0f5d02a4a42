"""A standalone Squeeze pipeline in the diffusers style: check the inputs, jointly encode the instruction and
the references with the MLLM (through the DLA), encode each reference's identity latents, prepare the
latents, then denoise under the same StageSchedule the ComfyUI sampler runs (Euler on flow sigmas, optional
classifier-free guidance, a step callback and interruption)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from PIL import Image

from .denoiser import predict_velocity
from .dla import AggregatedContext, DualLayerAggregator, base_conditioning
from .files import load_diffusion_model, load_dla, load_vae
from .errors import InvalidImageError, ScheduleError
from .identity import diffusers_vae_encoder, encode_identity
from .images import ImageLike, check_reference
from .joint_encoder import JointEncoder
from .latent_packing import pack_latents, token_grid, unpack_latents
from .schedule import StageSchedule, progress_from_noise_level
from .stage_conditioning import weighted_conditioning

LATENT_SCALE = 8
QWEN_IMAGE_SHIFT = 1.15
"""The flow shift ComfyUI gives Qwen-Image models by default."""


def flow_sigmas(steps: int, shift: float = QWEN_IMAGE_SHIFT) -> torch.Tensor:
    """``steps`` + 1 noise levels from 1 to 0, evenly spaced in time then shifted as flow models shift them."""
    if steps < 1:
        raise ScheduleError(f"steps must be at least 1, not {steps}")
    t = torch.linspace(1.0, 0.0, steps + 1)
    return shift * t / (1 + (shift - 1) * t)


@dataclass
class PipelineOutput:
    images: np.ndarray  # [B, H, W, 3] uint8
    latents: torch.Tensor  # [B, C, h, w], in the transformer's normalised latent space


StepCallback = Callable[["SqueezePipeline", int, float, torch.Tensor], None]


class SqueezePipeline:
    def __init__(self, transformer: torch.nn.Module, vae: torch.nn.Module, encoder: JointEncoder,
                 dla: DualLayerAggregator | None = None, *, text_only: bool = False):
        self.transformer = transformer
        self.vae = vae
        self.encoder = encoder
        self.dla = dla
        self.text_only = text_only
        """The MLLM reads the instruction alone (the ablation of joint encoding); the references still give
        their identity latents."""
        self._interrupt = False

    @classmethod
    def from_files(cls, mllm_folder: str | os.PathLike, transformer_path: str | os.PathLike,
                   vae_path: str | os.PathLike, dla_path: str | os.PathLike | None = None, *,
                   vision_resolution: int = 384, text_only: bool = False) -> SqueezePipeline:
        encoder = JointEncoder.from_folder(mllm_folder, vision_pixel_budget=vision_resolution**2)
        dla = None
        if dla_path is not None:
            dla = load_dla(dla_path, mllm_hidden_size=encoder.hidden_size, mllm_num_layers=encoder.num_layers).eval()
        return cls(load_diffusion_model(transformer_path), load_vae(vae_path), encoder, dla, text_only=text_only)

    @property
    def interrupt(self) -> bool:
        return self._interrupt

    def stop(self) -> None:
        """Ask a running call to stop after its current step (from a step callback or another thread)."""
        self._interrupt = True

    def check_inputs(self, prompt: str | Sequence[str], references: Sequence[ImageLike], height: int, width: int,
                     sigmas: torch.Tensor, guidance_scale: float) -> None:
        if not references:
            raise InvalidImageError("give at least one reference image of the subject")
        for k, reference in enumerate(references):
            check_reference(_channels_last(reference), f"reference {k + 1}")
        multiple = LATENT_SCALE * 2
        if height % multiple or width % multiple or height < multiple or width < multiple:
            raise InvalidImageError(f"height and width must be positive multiples of {multiple}; got {height}x{width}")
        if sigmas.ndim != 1 or len(sigmas) < 2 or bool((sigmas[1:] > sigmas[:-1]).any()):
            raise ScheduleError("sigmas must be a falling sequence of at least two noise levels")
        if guidance_scale < 1.0:
            raise ScheduleError(f"guidance_scale is 1 (off) or more, not {guidance_scale}")

    def encode_prompt(self, prompt: str | Sequence[str], references: Sequence[ImageLike]) -> AggregatedContext:
        features = self.encoder.encode(prompt, [] if self.text_only else references)
        if self.dla is None:
            return base_conditioning(features)
        with torch.no_grad():
            return self.dla(features)

    def encode_references(self, references: Sequence[ImageLike], height: int, width: int) -> list[torch.Tensor]:
        """Each reference's normalised identity latents, at the output's pixel count."""
        return encode_identity(references, diffusers_vae_encoder(self.vae), pixel_budget=height * width)

    def prepare_latents(self, batch: int, height: int, width: int, generator: torch.Generator | None,
                        latents: torch.Tensor | None = None) -> torch.Tensor:
        shape = (batch, self.vae.config.z_dim, height // LATENT_SCALE, width // LATENT_SCALE)
        if latents is not None:
            if tuple(latents.shape) != shape:
                raise InvalidImageError(f"latents must have shape {shape}, not {tuple(latents.shape)}")
            return latents.float()
        return torch.randn(shape, generator=generator)

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> np.ndarray:
        config = self.vae.config
        view = (1, -1, 1, 1)
        raw = latents * torch.tensor(config.latents_std).view(view) + torch.tensor(config.latents_mean).view(view)
        pixels = self.vae.decode(raw.unsqueeze(2).to(next(self.vae.parameters()).dtype)).sample[:, :, 0]
        return ((pixels.float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()

    @torch.no_grad()
    def __call__(
        self,
        prompt: str | Sequence[str],
        references: Sequence[ImageLike],
        *,
        schedule: StageSchedule | None = None,
        reference_strengths: Sequence[float] | None = None,
        height: int = 64,
        width: int = 64,
        steps: int = 20,
        sigmas: torch.Tensor | None = None,
        guidance_scale: float = 1.0,
        negative_prompt: str = " ",
        generator: torch.Generator | None = None,
        latents: torch.Tensor | None = None,
        callback_on_step_end: StepCallback | None = None,
        decode: bool = True,
    ) -> PipelineOutput:
        sigmas = flow_sigmas(steps) if sigmas is None else torch.as_tensor(sigmas, dtype=torch.float32).flatten()
        self.check_inputs(prompt, references, height, width, sigmas, guidance_scale)
        schedule = schedule or StageSchedule.paper()
        strengths = tuple(reference_strengths or (1.0,) * len(references))
        self._interrupt = False
        conditions = [self.encode_prompt(prompt, references)]
        if guidance_scale > 1.0:
            conditions.append(self.encode_prompt(negative_prompt, references))
        identity = [pack_latents(latent.float()) for latent in self.encode_references(references, height, width)]
        batch = max(conditions[0].context.shape[0], *(tokens.shape[0] for tokens in identity))
        x = sigmas[0] * self.prepare_latents(batch, height, width, generator, latents)
        grid = token_grid(*x.shape[-2:])
        reference_grids = [token_grid(height // LATENT_SCALE, width // LATENT_SCALE)] * len(identity)
        for index, (sigma, next_sigma) in enumerate(zip(sigmas[:-1].tolist(), sigmas[1:].tolist())):
            if self._interrupt:
                break
            weights = schedule.weights(progress_from_noise_level(sigma), strengths)
            tokens = pack_latents(x)
            velocities = []
            for condition in conditions:
                step = weighted_conditioning(_expand(condition.context, batch), _expand(condition.attention_mask, batch),
                                             _expand(condition.roles, batch),
                                             [_expand(tokens_k, batch) for tokens_k in identity], reference_grids,
                                             weights, tokens.shape[1])
                velocities.append(predict_velocity(self.transformer, tokens, step, torch.full((batch,), sigma), grid))
            velocity = velocities[0] if len(velocities) == 1 else (
                velocities[1] + guidance_scale * (velocities[0] - velocities[1]))
            x = x + (next_sigma - sigma) * unpack_latents(velocity.float(), *x.shape[-2:])
            if callback_on_step_end is not None:
                callback_on_step_end(self, index, sigma, x)
        return PipelineOutput(self.decode(x) if decode else np.empty(0, dtype=np.uint8), x)


def _expand(tensor: torch.Tensor, batch: int) -> torch.Tensor:
    return tensor if tensor.shape[0] == batch else tensor.expand(batch, *tensor.shape[1:])


def _channels_last(image: ImageLike) -> torch.Tensor:
    if isinstance(image, Image.Image):
        image = np.asarray(image)
    return torch.as_tensor(np.ascontiguousarray(image)) if isinstance(image, np.ndarray) else image
