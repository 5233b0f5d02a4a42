"""The training command runs as accelerate runs it on many GPUs: here two processes on the CPU (gloo), a few
steps each, gradients averaged between them, and its files load in the standalone pipeline."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np

from squeeze_core.miniature.case_data import draw_split
from squeeze_core.miniature.domain.cases import render_case
from squeeze_core.miniature.shipped import MiniatureFiles
from squeeze_core.miniature.spec import VISION_RESOLUTION
from squeeze_core.pipeline import SqueezePipeline

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_accelerate_launch_trains_on_two_cpu_processes(tmp_path):
    out = tmp_path / "miniature"
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
               "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
               "-m", "squeeze_core", "train", "--out", str(out), "--scale", "0.002"]
    environment = {**os.environ, "PYTHONPATH": ROOT, "OMP_NUM_THREADS": "1"}
    finished = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=900)
    assert finished.returncode == 0, finished.stderr[-4000:]
    assert "on 2 process(es)" in finished.stderr
    assert "stage 2: MLLM + VAE identity step" in finished.stderr
    files = MiniatureFiles(str(out))
    assert files.exists
    pipeline = SqueezePipeline.from_files(files.mllm, files.diffusion, files.vae, files.dla,
                                          vision_resolution=VISION_RESOLUTION)
    case = next(case for case in draw_split(50, "held_out") if case.instruction.kind == "pair")
    result = pipeline(case.instruction.text, render_case(case)[0], num_inference_steps=2, guidance_scale=2.5)
    assert result.images.shape == (1, 64, 64, 3) and np.isfinite(result.latents.numpy()).all()
