"""The training command runs as accelerate runs it on many GPUs: here two processes on the CPU (gloo), a few
steps each, gradients averaged between them, and its files load in the standalone pipeline; the evaluation
command scores what it wrote."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from squeeze_core.miniature.case_data import draw_split
from squeeze_core.miniature.domain.cases import render_case
from squeeze_core.miniature.scorecard import FIGURES
from squeeze_core.miniature.shipped import MiniatureFiles
from squeeze_core.miniature.spec import VISION_RESOLUTION
from squeeze_core.miniature.study import REGIONS_ROW, SCHEDULES, claims, schedule_row
from squeeze_core.pipeline import SqueezePipeline

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENVIRONMENT = {**os.environ, "PYTHONPATH": ROOT, "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def launched(tmp_path_factory) -> tuple[str, subprocess.CompletedProcess]:
    out = tmp_path_factory.mktemp("runs") / "full-seed0"
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
               "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
               "-m", "squeeze_core", "train", "--out", str(out), "--scale", "0.002"]
    finished = subprocess.run(command, cwd=ROOT, env=ENVIRONMENT, capture_output=True, text=True, timeout=900)
    assert finished.returncode == 0, finished.stderr[-4000:]
    return str(out), finished


def test_accelerate_launch_trains_on_two_cpu_processes(launched):
    out, finished = launched
    assert "on 2 process(es)" in finished.stderr
    assert "stage 2: MLLM + VAE identity step" in finished.stderr
    files = MiniatureFiles(str(out))
    assert files.exists
    pipeline = SqueezePipeline.from_files(files.mllm, files.diffusion, files.vae, files.dla,
                                          vision_resolution=VISION_RESOLUTION)
    case = next(case for case in draw_split(50, "held_out") if case.instruction.kind == "pair")
    result = pipeline(case.instruction.text, render_case(case)[0], num_inference_steps=2, guidance_scale=2.5)
    assert result.images.shape == (1, 64, 64, 3) and np.isfinite(result.latents.numpy()).all()


def test_evaluate_scores_every_schedule_and_tests_the_staging_claims(launched, tmp_path):
    out, _ = launched
    figures = tmp_path / "figures.json"
    command = [sys.executable, "-m", "squeeze_core", "evaluate", "--models", out, "--cases", "6", "--steps", "2",
               "--json", str(figures)]
    finished = subprocess.run(command, cwd=ROOT, env=ENVIRONMENT, capture_output=True, text=True, timeout=900)
    assert finished.returncode == 0, finished.stderr[-4000:]
    rows = {line.split("|")[1].strip() for line in finished.stdout.splitlines() if line.startswith("| DLA, ")}
    assert rows == {schedule_row(name) for name in SCHEDULES} | {REGIONS_ROW}
    staged = [claim for claim in claims(seeds=1) if claim.name.startswith(("(c)", "(d)"))]
    assert all(f"| {claim.name}: " in finished.stdout for claim in staged)
    assert "(b)" not in finished.stdout, "no ablation was run, so no claim that needs one is reported"
    written = json.loads(figures.read_text())
    assert (written["cases"], written["steps"], written["seed"]) == (6, 2, 0)
    assert {entry["name"] for entry in written["setups"]} == rows
    assert all(set(entry["figures"]) == set(FIGURES) for entry in written["setups"])
    assert all(len(values) == 6 for entry in written["setups"] for values in entry["figures"].values())
    always = next(entry for entry in written["setups"] if entry["name"] == schedule_row("always"))
    always["figures"]["instruction"] = [1.0] * 6
    figures.write_text(json.dumps(written))
    again = subprocess.run(command, cwd=ROOT, env=ENVIRONMENT, capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stderr[-4000:]
    assert f"| {schedule_row('always')} | 1.000 |" in again.stdout, "a setup the file holds is read, not sampled"
    other = subprocess.run(command[:6] + ["--cases", "5", "--steps", "2", "--json", str(figures)], cwd=ROOT,
                           env=ENVIRONMENT, capture_output=True, text=True, timeout=900)
    assert other.returncode != 0 and "give another --json file" in other.stderr


def test_the_study_trains_what_is_missing_then_tests_every_claim(launched):
    out, _ = launched
    root = os.path.dirname(out)
    train = [sys.executable, "-m", "squeeze_core", "train-study", "--root", root, "--seeds", "1", "--scale", "0.002"]
    first = subprocess.run(train, cwd=ROOT, env=ENVIRONMENT, capture_output=True, text=True, timeout=900)
    assert first.returncode == 0, first.stderr[-4000:]
    trained = [os.path.basename(line) for line in first.stdout.split()]
    assert trained == ["no_vae_identity-seed0", "last_layer-seed0", "shared_pooler-seed0", "text_only-seed0"]
    again = subprocess.run(train, cwd=ROOT, env=ENVIRONMENT, capture_output=True, text=True, timeout=900)
    assert again.returncode == 0 and again.stdout.strip() == "", again.stderr[-4000:]
    evaluate = [sys.executable, "-m", "squeeze_core", "evaluate", "--ablations", root, "--seeds", "1",
                "--cases", "4", "--steps", "2"]
    finished = subprocess.run(evaluate, cwd=ROOT, env=ENVIRONMENT, capture_output=True, text=True, timeout=900)
    assert finished.returncode == 0, finished.stderr[-4000:]
    assert all(f"| {claim.name}: " in finished.stdout for claim in claims(seeds=1))
