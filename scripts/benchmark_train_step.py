"""One train-dla optimiser step at the paper's sizes, with gradient checkpointing on and off in turns: a full-width
Qwen-Image transformer (60 blocks, 3072 wide, about 20B parameters, bf16, frozen) with a rank-16 LoRA, a DLA over
every layer of a Qwen2.5-VL of the 7B model's shape (28 layers of width 3584, a 32-block vision tower), a 1024x1024
target and one 1024x1024 reference (4096 + 4096 image tokens). The MLLM's weights are random; its features come
from the pack's JointEncoder on that reference at the recipe's default vision resolution (384), once, and the MLLM
is then released, as ``train-dla --feature-cache`` runs; the step is the recipe's own
(training.recipe.flow_matching_loss). Prints the MLLM's encoding time and memory and, per configuration, the
median step time and peak memory over the measured steps, and the ratios of checkpointing on to off; rounds
alternate on, off, on, off, ... after one warm-up step of each. A configuration that does not fit in memory is
reported as such.

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
from squeeze_core.joint_encoder import JointEncoder  # noqa: E402
from squeeze_core.tiny_models import TinyMLLMSpec, build_tiny_mllm_parts  # noqa: E402
from squeeze_core.training.adapters import prepare_transformer  # noqa: E402
from squeeze_core.training.features import trainable  # noqa: E402
from squeeze_core.training.recipe import flow_matching_loss  # noqa: E402
from squeeze_core.training.samples import SampleDraw  # noqa: E402
from squeeze_core.training.settings import TrainingSettings  # noqa: E402

QWEN2_5_VL_7B_TEXT = dict(vocab_size=152064, hidden_size=3584, intermediate_size=18944, num_hidden_layers=28,
                          num_attention_heads=28, num_key_value_heads=4, max_position_embeddings=128000,
                          rms_norm_eps=1e-6, rope_scaling={"type": "mrope", "mrope_section": [16, 24, 24]})
QWEN2_5_VL_7B_VISION = dict(depth=32, hidden_size=1280, intermediate_size=3420, num_heads=16, out_hidden_size=3584,
                            patch_size=14, spatial_merge_size=2, temporal_patch_size=2, window_size=112,
                            fullatt_block_indexes=[7, 15, 23, 31], tokens_per_second=2)
"""The published Qwen2.5-VL-7B-Instruct configuration's sizes."""
FULL = dict(transformer=DiffusionModelConfig(), side=1024, vision_resolution=384, pool_dim=256)
TINY = dict(transformer=DiffusionModelConfig(num_layers=2, attention_head_dim=16, num_attention_heads=2,
                                             joint_attention_dim=32, axes_dims_rope=(4, 6, 6)),
            side=64, vision_resolution=56, pool_dim=32)
INSTRUCTION = "show the dog on a beach at sunset, small, in the top left"


def _mllm(tiny: bool, device: torch.device, dtype: torch.dtype) -> JointEncoder:
    """The tiny test MLLM, or a random-weight one of Qwen2.5-VL-7B's shape with the tiny MLLM's tokenizer and
    processor (the token ids are what the architecture needs of them)."""
    small, processor = build_tiny_mllm_parts(TinyMLLMSpec(family="qwen2_5_vl"))
    if tiny:
        return JointEncoder(small.to(device=device, dtype=dtype).eval(), processor, source="tiny qwen2_5_vl")
    from transformers import AutoModelForImageTextToText, Qwen2_5_VLConfig

    ids = {name: getattr(small.config, name) for name in
           ("image_token_id", "video_token_id", "vision_start_token_id", "vision_end_token_id")}
    text = {**QWEN2_5_VL_7B_TEXT, **{name: getattr(small.config.text_config, name)
                                     for name in ("bos_token_id", "eos_token_id", "pad_token_id")}}
    config = Qwen2_5_VLConfig(text_config=text, vision_config=QWEN2_5_VL_7B_VISION, **ids)
    with torch.device(device):
        model = AutoModelForImageTextToText.from_config(config, dtype=dtype)
    return JointEncoder(model.eval().requires_grad_(False), processor, source="random Qwen2.5-VL-7B shape")


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _peak_gib(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else None


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()


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
    report = {"device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu", "rounds": options.rounds}

    started = time.perf_counter()
    encoder = _mllm(options.tiny, device, dtype)
    _synchronize(device)
    report["mllm"] = {"source": encoder.source, "parameters": sum(p.numel() for p in encoder.model.parameters()),
                      "build_seconds": round(time.perf_counter() - started, 2)}
    reference = torch.rand(1, sizes["side"], sizes["side"], 3, generator=generator)
    timings = []
    with torch.inference_mode():
        for _ in range(3):
            _reset_peak(device)
            _synchronize(device)
            started = time.perf_counter()
            encoded = encoder.encode(INSTRUCTION, [reference], vision_pixel_budget=sizes["vision_resolution"] ** 2)
            _synchronize(device)
            timings.append(time.perf_counter() - started)
    layers = encoder.resolve_layers(None)
    report["mllm"].update(tokens=int(encoded.attention_mask.sum()), layers_captured=len(layers),
                          encode_seconds=[round(t, 4) for t in timings], encode_peak_gib=_peak_gib(device),
                          weights_gib=sum(p.numel() * p.element_size() for p in encoder.model.parameters()) / 2**30)
    features = trainable(encoded)
    hidden_size, num_layers = encoder.hidden_size, encoder.num_layers
    del encoder, encoded
    if device.type == "cuda":
        torch.cuda.empty_cache()

    default_dtype = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    with torch.device(device):
        transformer = build_transformer(sizes["transformer"], seed=None)
    torch.set_default_dtype(default_dtype)
    settings = TrainingSettings(lora_rank=16, gradient_checkpointing=True)
    transformer = prepare_transformer(transformer, settings).train()
    dla = DualLayerAggregator(DLAConfig(hidden_size, num_layers, layers,
                                        context_dim=sizes["transformer"].joint_attention_dim,
                                        pool_dim=sizes["pool_dim"])).to(device).train()
    trained = [p for p in [*transformer.parameters(), *dla.parameters()] if p.requires_grad]
    optimizer = torch.optim.AdamW(trained, lr=1e-4)
    latent_side = sizes["side"] // 8
    target = torch.randn(1, 16, latent_side, latent_side, generator=generator).to(device)
    reference_latents = torch.randn(1, 16, latent_side, latent_side, generator=generator).to(device)
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if device.type == "cuda" else nullcontext

    def step(checkpointing: bool) -> tuple[float, float | None] | None:
        """(seconds, peak GiB) of one optimiser step, or None where it ran out of memory."""
        (transformer.enable_gradient_checkpointing if checkpointing else transformer.disable_gradient_checkpointing)()
        _reset_peak(device)
        _synchronize(device)
        started = time.perf_counter()
        draw = SampleDraw(False, False, (True,), torch.tensor([0.5]), torch.Generator().manual_seed(1))
        try:
            loss = flow_matching_loss(transformer, dla(features), target, [reference_latents], draw, dtype, autocast)
            loss.backward()
            optimizer.step()
            _synchronize(device)
        except torch.OutOfMemoryError:
            loss = None
        optimizer.zero_grad(set_to_none=True)
        if loss is None:
            if device.type == "cuda":
                torch.cuda.empty_cache()
            return None
        return time.perf_counter() - started, _peak_gib(device)

    configurations = {"checkpointing on": True, "checkpointing off": False}
    fits = {name: step(checkpointing) is not None for name, checkpointing in configurations.items()}
    measured = {name: [] for name in configurations}
    for _ in range(options.rounds):
        for name, checkpointing in configurations.items():
            if fits[name]:
                measured[name].append(step(checkpointing))
    report.update(transformer_parameters=sum(p.numel() for p in transformer.parameters()),
                  trained_parameters=sum(p.numel() for p in trained),
                  context_tokens=int(dla(features).attention_mask.sum()), image_tokens=2 * (latent_side // 2) ** 2)
    for name, runs in measured.items():
        complete = [run for run in runs if run is not None]
        report[name] = "out of memory" if not fits[name] or not complete else {
            "median_seconds": statistics.median(t for t, _ in complete), "seconds": [round(t, 4) for t, _ in complete],
            "peak_gib": None if complete[0][1] is None else max(m for _, m in complete)}
    pairs = [(on, off) for on, off in zip(measured["checkpointing on"], measured["checkpointing off"]) if on and off]
    if pairs:
        ratios = [on[0] / off[0] for on, off in pairs]
        report["time_ratio_on_to_off"] = {"median": statistics.median(ratios), "range": [min(ratios), max(ratios)]}
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
