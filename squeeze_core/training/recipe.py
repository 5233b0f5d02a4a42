"""One DLA training run on accelerate: the frozen MLLM encodes each sample jointly, the DLA turns its layers into
the transformer's context, and the transformer (LoRA, full or frozen) learns flow matching of the target, first
on the MLLM conditioning alone, then with the references' VAE latents (some dropped, as some MLLM image tokens
are, so every phase of a stage schedule is a trained case). Checkpoints resume exactly; ``log.jsonl`` holds the
loss and learning rate of every step; the outputs are a DLA file and a LoRA (or diffusion model) file."""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass

import torch

from ..diffusion_config import config_of
from ..dla import AggregatedContext, DLAConfig, DualLayerAggregator
from ..files import load_diffusion_model, load_vae, save_diffusion_model, save_dla, save_lora
from ..identity import diffusers_vae_encoder, encode_identity
from ..joint_encoder import JointEncoder
from ..manifest import validate_manifest
from ..schedule import StageWeights
from ..seeding import seeded
from .adapters import lora_pairs, prepare_transformer
from .checkpoints import latest_checkpoint, load_checkpoint, save_checkpoint
from .features import SampleFeatures
from .objective import velocity_errors
from .samples import SampleDraw, TrainingSamples, draw_sample
from .settings import TrainingSettings, TrainingSettingsError
from .sharding import clip_gradient_norm, gathered, set_gradient_sync, shard_transformer

logger = logging.getLogger("squeeze.training")
LATENT_MULTIPLE = 16
"""Pixels per side step of a Qwen-Image latent's 2x2 token patches."""
LOG = "log.jsonl"
SHARDED = ("FSDP", "DEEPSPEED", "MEGATRON_LM")
"""accelerate's distributed types that split parameters between processes (train-dla splits the transformer
itself, with --fsdp)."""


@dataclass(frozen=True)
class RunFiles:
    """Where a run writes, under ComfyUI's model folder names so ``out`` can serve as a models folder."""

    out: str
    name: str

    @property
    def dla(self) -> str:
        return os.path.join(self.out, "squeeze_dla", f"{self.name}.safetensors")

    @property
    def lora(self) -> str:
        return os.path.join(self.out, "loras", f"{self.name}.safetensors")

    @property
    def diffusion_model(self) -> str:
        return os.path.join(self.out, "diffusion_models", f"{self.name}.safetensors")

    @property
    def log(self) -> str:
        return os.path.join(self.out, LOG)


def make_accelerator(mixed_precision: str = "no", accumulation: int = 1):
    """The CPU when there is no GPU; DDP told that some parameters go unused in some steps (a stream dropped, a
    stage without references). The miniature's training uses it too."""
    from accelerate import Accelerator
    from accelerate.utils import DistributedDataParallelKwargs

    return Accelerator(cpu=not torch.cuda.is_available(), mixed_precision=mixed_precision,
                       gradient_accumulation_steps=accumulation,
                       kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)])


class Recipe:
    """The parts of a run and the loss of one sample under them."""

    def __init__(self, accelerator, settings: TrainingSettings, data: str, mllm: str, transformer: str, vae: str,
                 feature_cache: str | None, fsdp: bool = False):
        self.accelerator, self.settings = accelerator, settings
        device = accelerator.device
        frozen_dtype = torch.bfloat16 if settings.mixed_precision == "bf16" else torch.float32
        self.encoder = JointEncoder.from_folder(mllm, dtype=frozen_dtype, device=device)
        self.features = SampleFeatures(self.encoder, settings, data, feature_cache)
        base = load_diffusion_model(transformer)
        self.transformer_config = config_of(base)
        # A frozen base is held in the run's precision; a fully trained one keeps float32 master weights.
        self.transformer_dtype = frozen_dtype if settings.transformer != "full" else torch.float32
        if self.transformer_dtype != torch.float32:
            base.to(self.transformer_dtype)
        self.transformer = prepare_transformer(base.to(device), settings)
        if fsdp:
            shard_transformer(self.transformer, device, settings.mixed_precision)
        self.vae = load_vae(vae).to(device)
        self.vae_encoder = diffusers_vae_encoder(self.vae)
        layers = self.encoder.resolve_layers(settings.layers)
        with seeded(settings.seed + 1):
            self.dla = DualLayerAggregator(DLAConfig(
                mllm_hidden_size=self.encoder.hidden_size, mllm_num_layers=self.encoder.num_layers,
                layer_indices=layers, context_dim=self.transformer_config.joint_attention_dim,
                pool_dim=settings.dla_pool_dim, pool_heads=settings.dla_pool_heads,
                source_model=self.encoder.source)).to(device)

    def trained_parameters(self) -> dict[str, torch.nn.Parameter]:
        named = {f"dla.{name}": parameter for name, parameter in self.dla.named_parameters()}
        named.update({f"transformer.{name}": parameter for name, parameter in self.transformer.named_parameters()
                      if parameter.requires_grad})
        return named

    @staticmethod
    def parameter_groups(parameters: dict[str, torch.nn.Parameter]) -> list[dict]:
        """The DLA's parameters and the transformer's in separate optimiser groups, the same with or without FSDP:
        the multi-tensor AdamW (the default on GPUs, chosen everywhere here so CPUs run the same code) updates a
        group together and cannot mix FSDP's split tensors with whole ones."""
        groups = [[parameter for name, parameter in parameters.items() if name.startswith(prefix)]
                  for prefix in ("dla.", "transformer.")]
        return [{"params": group} for group in groups if group]

    def latents(self, picture: torch.Tensor) -> torch.Tensor:
        """Normalised [1, C, h, w] latents of a uint8 [3, H, W] picture at the run's resolution."""
        latent = encode_identity([picture.permute(1, 2, 0)], self.vae_encoder,
                                 pixel_budget=self.settings.resolution**2, multiple=LATENT_MULTIPLE)[0]
        return (latent[:, :, 0] if latent.ndim == 5 else latent).float()

    def loss(self, sample: dict, step: int, transformer: torch.nn.Module, dla: torch.nn.Module) -> torch.Tensor:
        stage = self.settings.stage_at(step)
        draw = draw_sample(self.settings, stage, sample["position"], len(sample["references"]))
        context = dla(self.features(sample, draw.drop_instruction).to(self.accelerator.device))
        kept = [self.latents(picture) for picture, keep in zip(sample["references"], draw.kept_references) if keep]
        return flow_matching_loss(transformer, context, self.latents(sample["target"]), kept, draw,
                                  self.transformer_dtype, self.accelerator.autocast)


def flow_matching_loss(transformer: torch.nn.Module, context: AggregatedContext, clean: torch.Tensor,
                       references: list[torch.Tensor], draw: SampleDraw, dtype: torch.dtype, autocast) -> torch.Tensor:
    """One sample's mean velocity error: ``clean`` [1, C, h, w] target latents, the kept references' latents, the
    context the DLA gave; ``autocast`` is the context manager the forward pass runs under."""
    noise = torch.randn(clean.shape, generator=draw.generator).to(clean.device)
    weights = StageWeights(semantic=0.0 if draw.drop_image_tokens else 1.0, identity=(1.0,) * len(references))
    return velocity_errors(transformer, context, clean, noise, draw.sigma.to(clean.device), references, weights,
                           dtype, autocast).mean()


def train_dla(settings: TrainingSettings, *, data: str, mllm: str, transformer: str, vae: str, out: str,
              name: str = "squeeze", feature_cache: str | None = None, workers: int = 0,
              resume: bool = False, fsdp: bool = False) -> RunFiles:
    """Train into ``out`` and write the DLA and LoRA (or transformer) files; ``resume`` continues from the
    newest checkpoint there. Run it as is on one device, or under ``accelerate launch`` on many; ``fsdp`` splits
    the transformer across those processes instead of copying it to each."""
    files = RunFiles(os.fspath(out), name)
    if not resume and latest_checkpoint(files.out) is not None:
        raise TrainingSettingsError(f"{files.out} holds checkpoints of an earlier run: pass --resume to continue "
                                    f"it, or train into a new folder")
    rows = validate_manifest(data, open_pictures=False)
    accelerator = make_accelerator(settings.mixed_precision, settings.accumulation)
    if accelerator.distributed_type.name in SHARDED:
        raise TrainingSettingsError(f"train-dla splits the transformer itself: launch with --multi_gpu and pass "
                                    f"--fsdp, rather than accelerate's {accelerator.distributed_type.name}")
    recipe = Recipe(accelerator, settings, data, mllm, transformer, vae, feature_cache, fsdp)
    parameters = recipe.trained_parameters()
    optimizer = torch.optim.AdamW(recipe.parameter_groups(parameters), lr=settings.learning_rate,
                                  weight_decay=settings.weight_decay, foreach=True)
    wrapped = [recipe.dla] + ([recipe.transformer] if settings.transformer != "frozen" and not fsdp else [])
    prepared = accelerator.prepare(*wrapped, optimizer)
    dla, optimizer = prepared[0], prepared[-1]
    transformer = prepared[1] if len(wrapped) > 1 else recipe.transformer
    start = 0
    checkpoint = latest_checkpoint(files.out) if resume else None
    if checkpoint is not None:
        start = load_checkpoint(checkpoint, parameters, optimizer, settings)
    if accelerator.is_main_process:
        os.makedirs(files.out, exist_ok=True)
        _truncate_log(files.log, start)
    logger.info("training a DLA (%s transformer%s) on %d process(es), %s, %d rows, steps %d-%d of %d",
                settings.transformer, ", split by FSDP" if fsdp else "", accelerator.num_processes,
                accelerator.device, rows, start + 1, settings.steps, settings.steps)
    samples = iter(torch.utils.data.DataLoader(
        TrainingSamples(data, accelerator.process_index, accelerator.num_processes, settings.accumulation, start),
        batch_size=None, num_workers=workers))
    dla.train()
    transformer.train()
    from tqdm.auto import tqdm

    progress = tqdm(total=settings.steps, initial=start, disable=not accelerator.is_main_process, desc="train-dla")
    started = time.perf_counter()
    for step in range(start, settings.steps):
        rate = settings.learning_rate_at(step)
        for group in optimizer.param_groups:
            group["lr"] = rate
        total = torch.zeros((), device=accelerator.device)
        for _ in range(settings.accumulation):
            with accelerator.accumulate(*wrapped):
                set_gradient_sync(transformer, accelerator.sync_gradients)
                value = recipe.loss(next(samples), step, transformer, dla)
                accelerator.backward(value)
                if accelerator.sync_gradients:
                    clip_gradient_norm(parameters.values(), settings.max_grad_norm)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
            total += value.detach()
        loss = accelerator.reduce(total / settings.accumulation, reduction="mean").item()
        if accelerator.is_main_process:
            _append_log(files.log, {"step": step + 1, "stage": 1 if step < settings.stage1_steps else 2,
                                    "loss": loss, "lr": rate})
            progress.set_postfix(loss=f"{loss:.4f}", lr=f"{rate:.2e}")
        progress.update()
        done = step + 1
        if done % settings.checkpoint_every == 0 or done == settings.stage1_steps or done == settings.steps:
            save_checkpoint(files.out, done, parameters, optimizer, settings, write=accelerator.is_main_process)
        accelerator.wait_for_everyone()
    progress.close()
    _write_outputs(recipe, files, settings, write=accelerator.is_main_process)
    accelerator.wait_for_everyone()
    logger.info("trained %d steps in %.1f min; wrote %s", settings.steps - start, (time.perf_counter() - started) / 60,
                files.out)
    return files


def _write_outputs(recipe: Recipe, files: RunFiles, settings: TrainingSettings, write: bool) -> None:
    """Every process gathers what FSDP split; the one with ``write`` writes."""
    pairs = lora_pairs(recipe.transformer) if settings.transformer == "lora" else None
    weights = gathered(recipe.transformer.state_dict().items(), write) if settings.transformer == "full" else None
    if not write:
        return
    os.makedirs(os.path.dirname(files.dla), exist_ok=True)
    save_dla(recipe.dla, files.dla)
    if pairs is not None:
        os.makedirs(os.path.dirname(files.lora), exist_ok=True)
        save_lora(pairs, files.lora, {"rank": settings.lora_rank, "targets": list(settings.lora_targets),
                                      "steps": settings.steps, "dla": os.path.basename(files.dla)})
    if weights is not None:
        os.makedirs(os.path.dirname(files.diffusion_model), exist_ok=True)
        save_diffusion_model(weights, recipe.transformer_config, files.diffusion_model)


def _append_log(path: str, entry: dict) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry) + "\n")


def _truncate_log(path: str, step: int) -> None:
    """Keep the log lines of the steps a resumed run does not repeat."""
    if not os.path.isfile(path):
        return
    with open(path, encoding="utf-8") as handle:
        kept = [line for line in handle if line.strip() and json.loads(line)["step"] <= step]
    with open(path, "w", encoding="utf-8") as handle:
        handle.writelines(kept)
