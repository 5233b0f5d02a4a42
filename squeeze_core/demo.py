"""The core on built-in tiny models: joint encoding, DLA, VAE identity and a stage schedule.

Run with ``python -m squeeze_core demo``. It builds a tiny random Qwen2.5-VL folder and a tiny
Qwen-Image VAE (no download), prints shapes and timings, and writes the schedule as a PNG.
"""

from __future__ import annotations

import logging
import os
import time

import numpy as np
import torch
from PIL import Image

from .dla import DLAConfig, DualLayerAggregator, base_conditioning
from .identity import encode_identity
from .joint_encoder import JointEncoder
from .schedule import StageSchedule
from .schedule_preview import render_schedule
from .tiny_models import TinyMLLMSpec, build_tiny_mllm
from .tiny_vae import build_tiny_vae

logger = logging.getLogger("squeeze.demo")


def _subject(colour: tuple[int, int, int], size: tuple[int, int]) -> Image.Image:
    """A flat-coloured disc on grey: a stand-in subject."""
    height, width = size
    yy, xx = np.mgrid[:height, :width]
    disc = (yy - height / 2) ** 2 + (xx - width / 2) ** 2 < (min(size) / 3) ** 2
    pixels = np.full((height, width, 3), 128, dtype=np.uint8)
    pixels[disc] = colour
    return Image.fromarray(pixels)


def run_demo(cache: str, out: str, prompt: str) -> str:
    """Runs each part once, logs shapes and timings, and returns the path of the schedule picture."""
    started = time.perf_counter()
    folder = build_tiny_mllm(os.path.join(cache, "qwen2_5_vl"), TinyMLLMSpec(family="qwen2_5_vl"))
    encoder = JointEncoder.from_folder(folder)
    logger.info("tiny Qwen2.5-VL ready in %.2fs: %d layers, width %d", time.perf_counter() - started,
                encoder.num_layers, encoder.hidden_size)

    references = [_subject((200, 40, 40), (240, 320)), _subject((40, 160, 60), (300, 200))]
    started = time.perf_counter()
    features = encoder.encode(prompt, references)
    logger.info("joint encoding in %.3fs: hidden states %s, image tokens per picture %s",
                time.perf_counter() - started, tuple(features.hidden_states.shape), features.image_token_counts()[0])

    dla = DualLayerAggregator(DLAConfig.for_features(features, pool_dim=32, pool_heads=4)).eval()
    started = time.perf_counter()
    with torch.no_grad():
        context = dla(features)
    base = base_conditioning(features)
    gap = (context.context - base.context).abs().max().item()
    logger.info("DLA in %.3fs: context %s; untrained DLA vs base conditioning: max |diff| = %.1e",
                time.perf_counter() - started, tuple(context.context.shape), gap)

    started = time.perf_counter()
    latents = encode_identity(references, build_tiny_vae(), pixel_budget=256 * 256)
    logger.info("identity latents in %.3fs: %s", time.perf_counter() - started, [tuple(x.shape) for x in latents])

    schedule = StageSchedule.paper()
    steps = 20
    progresses = [step / steps for step in range(steps)]
    table = ", ".join(f"{p:.2f}:{schedule.weights(p).semantic:.0f}/{schedule.weights(p).identity[0]:.0f}"
                      for p in progresses[:5])
    logger.info("paper schedule (progress: semantic/identity) %s ...", table)
    os.makedirs(out, exist_ok=True)
    path = os.path.abspath(os.path.join(out, "squeeze_demo_schedule.png"))
    Image.fromarray(render_schedule(schedule, progresses)).save(path)
    logger.info("wrote %s", path)
    return path

