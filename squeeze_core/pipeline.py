"""The standalone Squeeze pipeline, a diffusers ``DiffusionPipeline``: jointly encode the instruction and the
references with the MLLM (through the DLA), encode each reference's identity latents, then denoise under the
same StageSchedule the ComfyUI sampler runs (Euler on flow sigmas, optional classifier-free guidance).

One folder holds every part (``save_pretrained``/``from_pretrained``); ``from_files`` reads the pack's own
files (ComfyUI's model folders) instead."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from diffusers import DiffusionPipeline
from diffusers.utils import BaseOutput
from diffusers.utils.torch_utils import randn_tensor
from PIL import Image

from .denoiser import predict_velocity
from .dla import AggregatedContext, base_conditioning
from .errors import InvalidImageError, ScheduleError
from .files import load_diffusion_model, load_dla, load_lora, load_vae, merge_lora
from .identity import denormalize, diffusers_vae_encoder, encode_identity, is_video_vae, latent_channels
from .images import ImageLike, check_reference, from_vae_range
from .joint_encoder import JointEncoder
from .key_weighted_attention import install_key_weighting
from .latent_packing import pack_latents, token_grid, unpack_latents
from .pipeline_dla import PipelineDLA
from .region_binding import Region
from .schedule import StageSchedule, progress_from_noise_level
from .stage_conditioning import weighted_conditioning

LATENT_SCALE = 8
QWEN_IMAGE_SHIFT = 1.15
"""The flow shift ComfyUI gives Qwen-Image models by default."""
OUTPUT_TYPES = ("np", "pil", "latent")


def flow_sigmas(steps: int, shift: float = QWEN_IMAGE_SHIFT) -> torch.Tensor:
    """``steps`` + 1 noise levels from 1 to 0, evenly spaced in time then shifted as flow models shift them."""
    if steps < 1:
        raise ScheduleError(f"steps must be at least 1, not {steps}")
    t = torch.linspace(1.0, 0.0, steps + 1)
    return shift * t / (1 + (shift - 1) * t)


@dataclass
class SqueezePipelineOutput(BaseOutput):
    images: np.ndarray | list[Image.Image] | None
    """uint8 [B, H, W, 3] for ``output_type="np"``, PIL images for ``"pil"``, None for ``"latent"``."""
    latents: torch.Tensor
    """[B, C, h, w], in the transformer's normalised latent space."""


StepCallback = Callable[["SqueezePipeline", int, float, dict], dict]


class SqueezePipeline(DiffusionPipeline):
    model_cpu_offload_seq = "mllm->dla->transformer->vae"
    _optional_components = ["dla"]
    _callback_tensor_inputs = ["latents"]

    def __init__(self, transformer: torch.nn.Module, vae: torch.nn.Module, mllm: torch.nn.Module, processor,
                 dla: PipelineDLA | None = None, vision_resolution: int = 384, text_only: bool = False):
        """``text_only``: the MLLM reads the instruction alone (the ablation of joint encoding); the references
        still give their identity latents."""
        super().__init__()
        install_key_weighting(transformer)
        self.register_modules(transformer=transformer, vae=vae, mllm=mllm, processor=processor, dla=dla)
        self.register_to_config(vision_resolution=vision_resolution, text_only=text_only)
        self._interrupt = False

    @classmethod
    def from_files(cls, mllm_folder: str | os.PathLike, transformer_path: str | os.PathLike,
                   vae_path: str | os.PathLike, dla_path: str | os.PathLike | None = None, *,
                   lora_path: str | os.PathLike | None = None, lora_strength: float = 1.0,
                   vision_resolution: int = 384, text_only: bool = False) -> SqueezePipeline:
        """From the pack's own files: an MLLM folder, and the diffusion model, VAE and DLA files; a LoRA (the DLA
        recipe's, or another trainer's in the lora_A/lora_B layout) is merged into the transformer."""
        encoder = JointEncoder.from_folder(mllm_folder)
        dla = None
        if dla_path is not None:
            module = load_dla(dla_path, mllm_hidden_size=encoder.hidden_size, mllm_num_layers=encoder.num_layers)
            dla = PipelineDLA.wrap(module.eval())
        transformer = load_diffusion_model(transformer_path)
        if lora_path is not None:
            merge_lora(transformer, load_lora(lora_path), lora_strength)
        return cls(transformer, load_vae(vae_path), encoder.model, encoder.processor, dla,
                   vision_resolution=vision_resolution, text_only=text_only)

    @classmethod
    def from_pretrained(cls, folder: str | os.PathLike, **kwargs) -> SqueezePipeline:
        """A folder written by ``save_pretrained``; weights from safetensors only, no remote code, and local
        files only unless ``local_files_only=False`` is passed."""
        if kwargs.get("trust_remote_code"):
            raise ValueError("SqueezePipeline never runs code from a model folder; leave trust_remote_code off")
        kwargs.setdefault("local_files_only", True)
        return super().from_pretrained(folder, use_safetensors=True, **kwargs)

    @property
    def encoder(self) -> JointEncoder:
        source = os.path.basename(os.path.normpath(getattr(self.mllm, "name_or_path", "") or "mllm"))
        return JointEncoder(self.mllm, self.processor, source=source,
                            vision_pixel_budget=self.config.vision_resolution**2)

    @property
    def interrupt(self) -> bool:
        return self._interrupt

    def stop(self) -> None:
        """Ask a running call to stop after its current step (from a step callback or another thread)."""
        self._interrupt = True

    def check_inputs(self, references: Sequence[ImageLike], height: int, width: int, sigmas: torch.Tensor,
                     guidance_scale: float, output_type: str, callback_inputs: Sequence[str]) -> None:
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
        if output_type not in OUTPUT_TYPES:
            raise ValueError(f"output_type is one of {OUTPUT_TYPES}, not {output_type!r}")
        unknown = sorted(set(callback_inputs) - set(self._callback_tensor_inputs))
        if unknown:
            raise ValueError(f"callback_on_step_end_tensor_inputs {unknown} are not among {self._callback_tensor_inputs}")

    def encode_prompt(self, prompt: str | Sequence[str], references: Sequence[ImageLike]) -> AggregatedContext:
        features = self.encoder.encode(prompt, [] if self.config.text_only else references,
                                       allow_empty=self.config.text_only)
        if self.dla is None:
            return base_conditioning(features)
        with torch.no_grad():
            return self.dla(features)

    def encode_references(self, references: Sequence[ImageLike], height: int, width: int) -> list[torch.Tensor]:
        """Each reference's normalised identity latents, at the output's pixel count."""
        return encode_identity(references, diffusers_vae_encoder(self.vae), pixel_budget=height * width)

    def prepare_latents(self, batch: int, height: int, width: int, generator: torch.Generator | None,
                        device: torch.device, latents: torch.Tensor | None = None) -> torch.Tensor:
        shape = (batch, latent_channels(self.vae), height // LATENT_SCALE, width // LATENT_SCALE)
        if latents is not None:
            if tuple(latents.shape) != shape:
                raise InvalidImageError(f"latents must have shape {shape}, not {tuple(latents.shape)}")
            return latents.to(device=device, dtype=torch.float32)
        return randn_tensor(shape, generator=generator, device=device, dtype=torch.float32)

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> np.ndarray:
        """uint8 [B, H, W, 3] pixels of normalised latents."""
        raw = denormalize(latents, self.vae.config).to(self.vae.dtype)
        if is_video_vae(self.vae):
            return from_vae_range(self.vae.decode(raw.unsqueeze(2)).sample[:, :, 0])
        return from_vae_range(self.vae.decode(raw).sample)

    @torch.no_grad()
    def __call__(
        self,
        prompt: str | Sequence[str],
        references: Sequence[ImageLike],
        *,
        schedule: StageSchedule | None = None,
        reference_strengths: Sequence[float] | None = None,
        reference_regions: Sequence[Region | None] | None = None,
        height: int = 64,
        width: int = 64,
        num_inference_steps: int = 20,
        sigmas: torch.Tensor | Sequence[float] | None = None,
        guidance_scale: float = 1.0,
        negative_prompt: str = " ",
        generator: torch.Generator | list[torch.Generator] | None = None,
        latents: torch.Tensor | None = None,
        output_type: str = "np",
        return_dict: bool = True,
        callback_on_step_end: StepCallback | None = None,
        callback_on_step_end_tensor_inputs: Sequence[str] = ("latents",),
    ) -> SqueezePipelineOutput | tuple:
        """``sigmas`` (noise levels from high to 0, shift included) override ``num_inference_steps``;
        ``reference_regions`` places each reference (None: anywhere), bound as the schedule's binding curve
        says; a ``callback_on_step_end(pipe, step, sigma, {"latents": ...})`` may return replaced latents."""
        sigmas = (flow_sigmas(num_inference_steps) if sigmas is None
                  else torch.as_tensor(sigmas, dtype=torch.float32).flatten().cpu())
        self.check_inputs(references, height, width, sigmas, guidance_scale, output_type,
                          callback_on_step_end_tensor_inputs)
        schedule = schedule or StageSchedule.paper()
        strengths = tuple(reference_strengths or (1.0,) * len(references))
        device = self._execution_device
        self._interrupt = False
        conditions = [self.encode_prompt(prompt, references)]
        if guidance_scale > 1.0:
            conditions.append(self.encode_prompt(negative_prompt, references))
        identity = [latent.float().to(device) for latent in self.encode_references(references, height, width)]
        batch = max(conditions[0].context.shape[0], *(latent.shape[0] for latent in identity))
        x = sigmas[0].item() * self.prepare_latents(batch, height, width, generator, device, latents)
        x = self._denoise(x, conditions, identity, sigmas, schedule, strengths, tuple(reference_regions or ()),
                          guidance_scale, callback_on_step_end, callback_on_step_end_tensor_inputs)
        images = None if output_type == "latent" else self.decode(x)
        if output_type == "pil":
            images = [Image.fromarray(image) for image in images]
        self.maybe_free_model_hooks()
        return SqueezePipelineOutput(images, x) if return_dict else (images, x)

    def _denoise(self, x: torch.Tensor, conditions: list[AggregatedContext], identity: list[torch.Tensor],
                 sigmas: torch.Tensor, schedule: StageSchedule, strengths: tuple[float, ...],
                 regions: tuple[Region | None, ...], guidance_scale: float, callback: StepCallback | None,
                 callback_inputs: Sequence[str]) -> torch.Tensor:
        batch, device, dtype = x.shape[0], x.device, self.transformer.dtype
        grid = token_grid(*x.shape[-2:])
        reference_grids = [token_grid(*latent.shape[-2:]) for latent in identity]
        references = [_expand(pack_latents(latent), batch).to(dtype) for latent in identity]
        streams = [(_expand(c.context, batch).to(device, dtype), _expand(c.attention_mask, batch).to(device),
                    _expand(c.roles, batch).to(device)) for c in conditions]
        levels = list(zip(sigmas[:-1].tolist(), sigmas[1:].tolist()))
        with self.progress_bar(total=len(levels)) as progress:
            for index, (sigma, next_sigma) in enumerate(levels):
                if self._interrupt:
                    break
                weights = schedule.weights(progress_from_noise_level(sigma), strengths)
                tokens = pack_latents(x).to(dtype)
                timestep = torch.full((batch,), sigma, device=device)
                velocities = [predict_velocity(self.transformer, tokens, weighted_conditioning(
                    *stream, references, reference_grids, weights, grid, regions), timestep, grid).float()
                              for stream in streams]
                velocity = velocities[0] if len(velocities) == 1 else (
                    velocities[1] + guidance_scale * (velocities[0] - velocities[1]))
                x = x + (next_sigma - sigma) * unpack_latents(velocity, *x.shape[-2:])
                if callback is not None:
                    given = callback(self, index, sigma, {name: {"latents": x}[name] for name in callback_inputs})
                    x = (given or {}).get("latents", x)
                progress.update()
        return x


def _expand(tensor: torch.Tensor, batch: int) -> torch.Tensor:
    return tensor if tensor.shape[0] == batch else tensor.expand(batch, *tensor.shape[1:])


def _channels_last(image: ImageLike) -> torch.Tensor:
    """A tensor of the picture; an array is copied, since a read-only one (a PIL image's) cannot be a tensor."""
    if isinstance(image, Image.Image):
        image = np.asarray(image)
    return torch.from_numpy(np.array(image)) if isinstance(image, np.ndarray) else image
