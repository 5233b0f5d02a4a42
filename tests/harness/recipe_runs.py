"""Tiny parts of the real architectures written where the DLA recipe reads them (the pack's own files and
diffusers folders), a tiny dataset written by the CLI, and ``train-dla`` run as a user runs it: its command
line, alone or under ``accelerate launch``."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass

from squeeze_core.denoiser import build_transformer
from squeeze_core.files import save_diffusion_model, save_vae
from squeeze_core.tiny_vae import build_tiny_vae
from tests.harness.tiny_parts import TINY_DIFFUSION

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENVIRONMENT = {**os.environ, "PYTHONPATH": ROOT, "OMP_NUM_THREADS": "1"}
TWO_PROCESSES = ("-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
                 "--mixed_precision", "no", "--dynamo_backend", "no")
TINY_SETTINGS = ("--stage1-steps", "2", "--stage2-steps", "2", "--resolution", "64", "--vision-resolution", "112",
                 "--dla-pool-dim", "32", "--lora-rank", "4", "--learning-rate", "1e-2", "--warmup-steps", "1",
                 "--checkpoint-every", "2")
"""Four steps across both stages, at a learning rate that moves every trained weight visibly."""


@dataclass(frozen=True)
class RecipeParts:
    data: str
    transformer: str
    vae: str
    transformer_folder: str
    vae_folder: str


def write_recipe_parts(root: str) -> RecipeParts:
    """The tiny transformer and VAE as pack files and as diffusers folders, and a dataset of 6 rows."""
    os.makedirs(root, exist_ok=True)
    transformer = build_transformer(TINY_DIFFUSION, seed=0)
    vae = build_tiny_vae(seed=3)
    parts = RecipeParts(os.path.join(root, "data"), os.path.join(root, "dit.safetensors"),
                        os.path.join(root, "vae.safetensors"), os.path.join(root, "transformer"),
                        os.path.join(root, "vae"))
    save_diffusion_model(transformer.state_dict(), TINY_DIFFUSION, parts.transformer)
    save_vae(vae, parts.vae)
    transformer.save_pretrained(parts.transformer_folder, safe_serialization=True)
    vae.save_pretrained(parts.vae_folder, safe_serialization=True)
    write_dataset(parts.data)
    return parts


def write_dataset(folder: str, cases: int = 6) -> str:
    """``python -m squeeze_core export-dataset``: a folder of the miniature's cases."""
    finished = subprocess.run([sys.executable, "-m", "squeeze_core", "export-dataset", "--out", folder,
                               "--cases", str(cases)], cwd=ROOT, env=ENVIRONMENT, capture_output=True, text=True,
                              timeout=300)
    assert finished.returncode == 0, finished.stderr[-3000:]
    return folder


def train_dla(parts: RecipeParts, mllm: str, out: str, *options: str, launcher: tuple[str, ...] = (),
              folders: bool = False, check: bool = True) -> subprocess.CompletedProcess:
    """``python -m squeeze_core train-dla`` on the tiny parts (their diffusers folders with ``folders``)."""
    command = [sys.executable, *launcher, "-m", "squeeze_core", "train-dla", "--data", parts.data, "--mllm", mllm,
               "--transformer-model", parts.transformer_folder if folders else parts.transformer,
               "--vae", parts.vae_folder if folders else parts.vae, "--out", out, *TINY_SETTINGS, *options]
    finished = subprocess.run(command, cwd=ROOT, env=ENVIRONMENT, capture_output=True, text=True, timeout=900)
    if check:
        assert finished.returncode == 0, finished.stderr[-4000:]
    return finished
