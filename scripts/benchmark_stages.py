"""Multi-stage sampling against the stock KSampler: seconds per image, step costs, peak memory.

A Qwen-Image diffusion model built from ComfyUI's own classes at reduced width and depth sees the
token counts of a 1024x1024 output with one 1024x1024 reference (4096 + 4096 image tokens) and a
200-token joint encoding. Each configuration runs in its own process of this session (so peak
memory is its own); every figure is printed against the stock KSampler measured the same way.
Peak sampling memory is CUDA's allocator peak on a GPU; on a CPU, the peak of tensor memory
allocated while sampling (from the profiler's allocation records), above the model itself.

    "$(bash scripts/venv.sh)/bin/python" scripts/benchmark_stages.py [--width 256 --depth 2 --steps 8]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = ("stock", "stock_without_references", "identity_off", "always", "paper", "semantic_first")
TEXT_TOKENS, IMAGE_TOKENS, CONTEXT_DIM = 30, 170, 64


def _import_comfyui(device: str, attention: str) -> None:
    sys.path.insert(0, ROOT)
    from tools.comfyui_process import import_comfyui

    import_comfyui(device, attention)


def _import_pack():
    from tools.comfyui_process import import_pack_module

    return import_pack_module("nodes.sampling")


def _model(width: int, depth: int):
    import comfy.model_management as mm
    import comfy.model_patcher
    import comfy.supported_models
    import torch

    heads = width // 128
    config = comfy.supported_models.QwenImage({
        "image_model": "qwen_image", "num_layers": depth, "attention_head_dim": 128, "num_attention_heads": heads,
        "joint_attention_dim": CONTEXT_DIM, "axes_dims_rope": (16, 56, 56), "in_channels": 64, "out_channels": 16,
        "patch_size": 2})
    dtype = torch.bfloat16 if mm.should_use_bf16(mm.get_torch_device()) else torch.float32
    config.set_inference_dtype(dtype, None)
    model = config.get_model({})
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, parameter in model.diffusion_model.named_parameters():
            if parameter.ndim <= 1:
                parameter.fill_(1.0 if "norm" in name else 0.0)
            else:
                values = torch.randn(parameter.shape, generator=generator) / parameter[0].numel() ** 0.5
                parameter.copy_(values)
    return comfy.model_patcher.ModelPatcher(model, load_device=mm.get_torch_device(),
                                            offload_device=mm.unet_offload_device())


def _conditioning(size: int, with_references: bool):
    import torch

    generator = torch.Generator().manual_seed(1)
    tokens = TEXT_TOKENS + IMAGE_TOKENS
    context = torch.randn(1, tokens, CONTEXT_DIM, generator=generator)
    roles = torch.full((1, tokens), 2, dtype=torch.long)
    roles[:, 5:5 + IMAGE_TOKENS] = 3
    extras = {"pooled_output": None, "squeeze_token_roles": roles}
    if with_references:
        extras["reference_latents"] = [torch.randn(1, 16, 1, size // 8, size // 8, generator=generator)]
    positive = [[context, extras]]
    negative = [[torch.zeros_like(context), dict(extras)]]
    return positive, negative


def _peak_tensor_mb(run) -> float:
    """Peak of the CPU tensor memory allocated during ``run`` (above what was live before), from the
    profiler's per-op allocation records: deterministic where RSS is not."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as profiler:
        run()
    live = peak = 0
    for event in sorted(profiler.events(), key=lambda item: item.time_range.start):
        live += event.self_cpu_memory_usage
        peak = max(peak, live)
    return peak / 2**20


def _run(config: str, options: argparse.Namespace) -> dict:
    _import_comfyui(options.device, options.attention)
    import comfy.model_management as mm
    import comfy.sample
    import comfy.samplers
    import torch

    sampling = _import_pack()
    from squeeze_pack.nodes.engine.stage_guider import step_progress

    model = _model(options.width, options.depth)
    latent = torch.zeros(1, 16, 1, options.size // 8, options.size // 8)
    noise = comfy.sample.prepare_noise(latent, 0)
    positive, negative = _conditioning(options.size, config != "stock_without_references")
    preset = {"stock": None, "stock_without_references": None, "identity_off": "always"}.get(config, config)
    strength = 0.0 if config == "identity_off" else 1.0

    def sample(steps: int):
        if preset is None:
            return comfy.sample.sample(model, noise, steps, options.cfg, "euler", "simple", positive, negative,
                                       latent, disable_pbar=True, seed=0)
        schedule = sampling.build_schedule("benchmark", preset, 0.05, 0.15, strength, 1.0)
        guider = sampling.make_guider(model, positive, negative, options.cfg, schedule)
        sigmas = sampling.sampling_sigmas(model, steps, "simple", 1.0)
        return guider.sample(noise, latent, comfy.samplers.sampler_object("euler"), sigmas, disable_pbar=True,
                             seed=0)

    sample(1)
    device = mm.get_torch_device()
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    timings = []
    for _ in range(options.repeats):
        started = time.perf_counter()
        sample(options.steps)
        if device.type == "cuda":
            torch.cuda.synchronize()
        timings.append(time.perf_counter() - started)
    seconds = min(timings)
    result = {"config": config, "seconds": seconds,
              "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if device.type == "cuda":
        result["peak_memory_mb"] = torch.cuda.max_memory_allocated() / 2**20
    else:
        result["peak_memory_mb"] = _peak_tensor_mb(lambda: sample(options.steps))
    if preset is not None:
        schedule = sampling.build_schedule("benchmark", preset, 0.05, 0.15, strength, 1.0)
        model_sampling = model.get_model_object("model_sampling")
        sigmas = sampling.sampling_sigmas(model, options.steps, "simple", 1.0)
        result["steps_with_references"] = sum(
            schedule.identity_weight(step_progress(model_sampling, sigma)) > 0 for sigma in sigmas[:-1])
    return result


WEIGHTED_STEP_RUNS = ("unweighted", "auto", "fold", "mask")


def _weighted_steps(options: argparse.Namespace) -> dict:
    """Seconds of weighted against unweighted steps over the same tokens (every weight 1), the weights folded
    into q/k, given as a mask, or as the device suits (auto, the default), run in turns (A B C D A B C D ...)
    so that drift hits all alike."""
    _import_comfyui(options.device, options.attention)
    import comfy.model_management as mm
    import comfy.sample
    import comfy.samplers
    import torch

    sampling = _import_pack()
    from squeeze_pack.nodes.engine.stage_guider import StageGuider
    from squeeze_pack.squeeze_core.schedule import Curve, StageSchedule

    model = _model(options.width, options.depth)
    latent = torch.zeros(1, 16, 1, options.size // 8, options.size // 8)
    noise = comfy.sample.prepare_noise(latent, 0)
    positive, negative = _conditioning(options.size, True)
    weighted = StageSchedule(Curve.constant(0.5), Curve.constant(0.5), name="weighted")
    guiders = {"unweighted": StageGuider(model, StageSchedule.always()),
               **{method: StageGuider(model, weighted, method) for method in WEIGHTED_STEP_RUNS[1:]}}
    for guider in guiders.values():
        guider.set_conds(positive, negative)
        guider.set_cfg(options.cfg)
    sigmas = sampling.sampling_sigmas(model, options.weighted_steps, "simple", 1.0)
    device = mm.get_torch_device()

    def seconds(name: str) -> float:
        started = time.perf_counter()
        guiders[name].sample(noise, latent, comfy.samplers.sampler_object("euler"), sigmas, disable_pbar=True,
                             seed=0)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return (time.perf_counter() - started) / options.weighted_steps

    for name in WEIGHTED_STEP_RUNS:
        seconds(name)
    rounds = [{name: seconds(name) for name in WEIGHTED_STEP_RUNS} for _ in range(options.rounds)]
    return {"config": "weighted_steps", "rounds": rounds}


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def _weighted_step_table(result: dict, options: argparse.Namespace) -> str:
    rounds = result["rounds"]
    lines = [
        f"Weighted against unweighted steps over the same tokens (semantic and identity weight 0.5 against 1): "
        f"{options.weighted_steps} steps per run, {len(rounds)} rounds in turns; ratio per round, median "
        f"[min, max]",
        "",
        "| method | s/step (median) | vs unweighted |",
        "|---|---|---|",
    ]
    for name in WEIGHTED_STEP_RUNS:
        ratios = [entry[name] / entry["unweighted"] for entry in rounds]
        lines.append(f"| {name} | {_median([entry[name] for entry in rounds]):.3f} | {_median(ratios):.3f}x "
                     f"[{min(ratios):.3f}, {max(ratios):.3f}] |")
    return "\n".join(lines)


def _table(results: dict[str, dict], options: argparse.Namespace) -> str:
    stock = results["stock"]
    full_step = stock["seconds"] / options.steps
    bare_step = results["stock_without_references"]["seconds"] / options.steps
    gated_step = results["identity_off"]["seconds"] / options.steps
    lines = [
        f"Qwen-Image width {options.width}, depth {options.depth}; output {options.size}x{options.size} "
        f"({(options.size // 16) ** 2} tokens) + one reference of the same size + {TEXT_TOKENS + IMAGE_TOKENS} "
        f"context tokens; "
        f"euler, {options.steps} steps, cfg {options.cfg}; fastest of {options.repeats} runs; device {options.device}, "
        f"{options.attention} attention",
        "",
        "| run | s/image | vs stock | predicted from step costs | peak sampling memory MB | vs stock | "
        "peak RSS MB |",
        "|---|---|---|---|---|---|---|",
    ]
    for config in CONFIGS:
        result = results[config]
        predicted = ""
        if "steps_with_references" in result:
            with_refs = result["steps_with_references"]
            estimate = with_refs * full_step + (options.steps - with_refs) * gated_step
            predicted = f"{estimate:.2f} s ({result['seconds'] / estimate:.3f}x; {with_refs}/{options.steps} steps " \
                        f"with references)"
        memory = result["peak_memory_mb"]
        lines.append(f"| {config} | {result['seconds']:.2f} | {result['seconds'] / stock['seconds']:.3f}x | "
                     f"{predicted} | {memory:.1f} | {memory / stock['peak_memory_mb']:.4f}x | "
                     f"{result['peak_rss_mb']:.0f} |")
    lines += [
        "",
        f"step with the reference tokens (stock): {full_step:.3f} s",
        f"step without them, gated by the stage guider: {gated_step:.3f} s = {gated_step / full_step:.3f} of a full "
        f"step, {gated_step / bare_step:.3f}x a bare forward over target and text tokens ({bare_step:.3f} s)",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=256, help="multiple of 128 (Qwen-Image: 3072)")
    parser.add_argument("--depth", type=int, default=2, help="transformer blocks (Qwen-Image: 60)")
    parser.add_argument("--size", type=int, default=1024, help="output and reference side in pixels")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--cfg", type=float, default=2.5)
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per configuration; the fastest counts")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--attention", choices=("pytorch", "sub-quadratic"), default="pytorch",
                        help="ComfyUI's attention: PyTorch's (its default on GPUs) or sub-quadratic (its CPU default)")
    parser.add_argument("--weighted-steps", type=int, default=2, help="steps per run of the weighted-step comparison")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of the weighted-step comparison")
    parser.add_argument("--only", choices=("presets", "weighted_steps"), help="run one of the two parts")
    parser.add_argument("--config", choices=(*CONFIGS, "weighted_steps"), help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.config == "weighted_steps":
        print(json.dumps(_weighted_steps(options)))
        return
    if options.config:
        print(json.dumps(_run(options.config, options)))
        return
    results = {}
    forwarded = list(argv if argv is not None else sys.argv[1:])
    parts = (options.only,) if options.only else ("presets", "weighted_steps")
    for config in (CONFIGS if "presets" in parts else ()) + (("weighted_steps",) if "weighted_steps" in parts else ()):
        child = subprocess.run([sys.executable, os.path.abspath(__file__), *forwarded, "--config", config],
                               capture_output=True, text=True, check=False)
        if child.returncode:
            raise SystemExit(f"{config} failed:\n{child.stderr[-4000:]}")
        results[config] = json.loads(child.stdout.strip().splitlines()[-1])
        print(f"{config}: done", file=sys.stderr, flush=True)
    tables = [_table(results, options)] if "presets" in parts else []
    if "weighted_steps" in parts:
        tables.append(_weighted_step_table(results["weighted_steps"], options))
    print("\n\n".join(tables))


if __name__ == "__main__":
    main()
