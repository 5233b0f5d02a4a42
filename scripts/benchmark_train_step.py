"""One train-dla optimiser step at the paper's sizes, with gradient checkpointing on and off in turns: a full-width
Qwen-Image transformer (60 blocks, 3072 wide, about 20B parameters, bf16, frozen) with a rank-16 LoRA, a DLA over
a 7B-shaped MLLM's 29 captured layers of width 3584, a 1024x1024 target and one 1024x1024 reference (4096 + 4096
image tokens) and a 280-token joint encoding. Weights and MLLM features are random (the MLLM runs in inference
only, once per row with --feature-cache), the step is the recipe's own (training.recipe.flow_matching_loss).
Prints, per configuration, the median step time and peak memory over the measured steps, and the ratios of
checkpointing on to off; rounds alternate on, off, on, off, ... after one warm-up step of each.

    python scripts/benchmark_train_step.py              # on a GPU: the full size
    python scripts/benchmark_train_step.py --tiny       # anywhere: the same code at test size
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from contextlib import nullcontext

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from squeeze_core.denoiser import build_transformer  # noqa: E402
from squeeze_core.diffusion_config import DiffusionModelConfig  # noqa: E402
from squeeze_core.dla import DLAConfig, DualLayerAggregator  # noqa: E402
from squeeze_core.features import MLLMFeatures, TokenRole, image_role  # noqa: E402
from squeeze_core.training.adapters import prepare_transformer  # noqa: E402
from squeeze_core.training.recipe import flow_matching_loss  # noqa: E402
from squeeze_core.training.samples import SampleDraw  # noqa: E402
from squeeze_core.training.settings import TrainingSettings  # noqa: E402

FULL = dict(transformer=DiffusionModelConfig(), mllm_width=3584, mllm_layers=28, side=1024, pool_dim=256)
TINY = dict(transformer=DiffusionModelConfig(num_layers=2, attention_head_dim=16, num_attention_heads=2,
                                             joint_attention_dim=32, axes_dims_rope=(4, 6, 6)),
            mllm_width=32, mllm_layers=4, side=64, pool_dim=32)
TEMPLATE, TEXT, IMAGE = 34, 50, 196


def _features(width: int, layers: int, device: torch.device, generator: torch.Generator) -> MLLMFeatures:
    roles = torch.tensor([[TokenRole.TEMPLATE] * TEMPLATE + [image_role(0)] * IMAGE + [TokenRole.TEXT] * TEXT])
    states = torch.randn(layers + 1, 1, roles.shape[1], width, generator=generator)
    return MLLMFeatures(states.to(device), torch.ones_like(roles).to(device), roles.to(device),
                        tuple(range(layers + 1)), layers, 1)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="test sizes, on any device")
    parser.add_argument("--rounds", type=int, default=3, help="measured steps of each configuration")
    options = parser.parse_args()
    sizes = TINY if options.tiny else FULL
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not options.tiny and device.type != "cuda":
        raise SystemExit("the full size needs a GPU (about 41 GB of bf16 weights); run with --tiny here")
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    generator = torch.Generator().manual_seed(0)
    default_dtype = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    with torch.device(device):
        transformer = build_transformer(sizes["transformer"], seed=None)
    torch.set_default_dtype(default_dtype)
    settings = TrainingSettings(lora_rank=16, gradient_checkpointing=True)
    transformer = prepare_transformer(transformer, settings).train()
    layers = sizes["mllm_layers"]
    dla = DualLayerAggregator(DLAConfig(sizes["mllm_width"], layers, tuple(range(layers + 1)),
                                        context_dim=sizes["transformer"].joint_attention_dim,
                                        pool_dim=sizes["pool_dim"])).to(device).train()
    trained = [p for p in [*transformer.parameters(), *dla.parameters()] if p.requires_grad]
    optimizer = torch.optim.AdamW(trained, lr=1e-4)
    latent_side = sizes["side"] // 8
    target = torch.randn(1, 16, latent_side, latent_side, generator=generator).to(device)
    reference = torch.randn(1, 16, latent_side, latent_side, generator=generator).to(device)
    features = _features(sizes["mllm_width"], sizes["mllm_layers"], device, generator)
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if device.type == "cuda" else nullcontext

    def step(checkpointing: bool) -> tuple[float, float]:
        (transformer.enable_gradient_checkpointing if checkpointing else transformer.disable_gradient_checkpointing)()
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        _synchronize(device)
        started = time.perf_counter()
        draw = SampleDraw(False, False, (True,), torch.tensor([0.5]), torch.Generator().manual_seed(1))
        loss = flow_matching_loss(transformer, dla(features), target, [reference], draw, dtype, autocast)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        _synchronize(device)
        peak = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else None
        return time.perf_counter() - started, peak

    configurations = {"checkpointing on": True, "checkpointing off": False}
    for checkpointing in configurations.values():
        step(checkpointing)
    measured = {name: [] for name in configurations}
    for _ in range(options.rounds):
        for name, checkpointing in configurations.items():
            measured[name].append(step(checkpointing))
    report = {"device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
              "transformer_parameters": sum(p.numel() for p in transformer.parameters()),
              "trained_parameters": sum(p.numel() for p in trained), "rounds": options.rounds}
    for name, runs in measured.items():
        report[name] = {"median_seconds": statistics.median(t for t, _ in runs),
                        "seconds": [round(t, 4) for t, _ in runs],
                        "peak_gib": None if runs[0][1] is None else max(m for _, m in runs)}
    ratios = [on[0] / off[0] for on, off in zip(measured["checkpointing on"], measured["checkpointing off"])]
    report["time_ratio_on_to_off"] = {"median": statistics.median(ratios), "range": [min(ratios), max(ratios)]}
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
