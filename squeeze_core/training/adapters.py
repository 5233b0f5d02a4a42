"""What of the diffusion transformer trains: a LoRA (peft) on its attention projections, the whole model, or
nothing; and the LoRA taken back out as plain (down, up) pairs for the pack's LoRA file."""

from __future__ import annotations

import torch

from ..files.lora import LoRAPairs
from ..seeding import seeded
from .settings import TrainingSettings
from .sharding import whole

ADAPTER = "default"


def prepare_transformer(transformer: torch.nn.Module, settings: TrainingSettings) -> torch.nn.Module:
    """The transformer with exactly its trained parameters requiring gradients; LoRA weights are kept in float32
    over a bf16 base, as mixed-precision training keeps its master weights."""
    transformer.requires_grad_(settings.transformer == "full")
    if settings.transformer == "lora":
        from peft import LoraConfig, inject_adapter_in_model

        config = LoraConfig(r=settings.lora_rank, lora_alpha=settings.lora_alpha,
                            target_modules=list(settings.lora_targets), lora_dropout=0.0, init_lora_weights=True)
        with seeded(settings.seed + 2):
            transformer = inject_adapter_in_model(config, transformer, adapter_name=ADAPTER)
        for name, parameter in transformer.named_parameters():
            trained = ".lora_" in name
            if trained:
                parameter.data = parameter.data.float()
            parameter.requires_grad_(trained)
    if settings.gradient_checkpointing:
        transformer.enable_gradient_checkpointing()
    return transformer


def lora_pairs(transformer: torch.nn.Module) -> LoRAPairs:
    """Each LoRA-wrapped linear's (down, up), peft's scale folded into up; gathered where FSDP splits them (so
    every process calls it)."""
    pairs = {}
    for name, module in transformer.named_modules():
        if hasattr(module, "lora_A") and ADAPTER in getattr(module, "lora_A", {}):
            down = whole(module.lora_A[ADAPTER].weight.detach()).float().cpu()
            up = whole(module.lora_B[ADAPTER].weight.detach()).float().cpu() * module.scaling[ADAPTER]
            pairs[name] = (down, up)
    return pairs
