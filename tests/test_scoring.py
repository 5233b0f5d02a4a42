"""DreamBench-style scoring with tiny random DINO and CLIP (and DINOv2 and SigLIP) folders of the real
architectures (plumbing: any embedder gives similarity 1 to the same picture), the ranking a batch is re-ordered
by, ``evaluate-dla`` on one and on two processes, and ``compare-scores`` of two evaluations."""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys

import pytest
import torch

from squeeze_core.errors import ModelFolderError
from squeeze_core.scoring.embedders import ImageEmbedder, ImageTextEmbedder
from squeeze_core.scoring.subject_scores import SubjectScorer, rank
from squeeze_core.tiny_scorers import build_tiny_clip, build_tiny_dino, build_tiny_dinov2, build_tiny_siglip
from tests.harness.recipe_runs import ENVIRONMENT, ROOT, TWO_PROCESSES, write_recipe_parts


@pytest.fixture(scope="module")
def scorer_folders(tmp_path_factory) -> tuple[str, str]:
    root = tmp_path_factory.mktemp("scorers")
    return build_tiny_dino(root / "dino-vits16"), build_tiny_clip(root / "clip-vit-base-patch32")


@pytest.fixture(scope="module", params=["dino+clip", "dinov2+siglip"])
def scorer(request, scorer_folders, tmp_path_factory) -> SubjectScorer:
    dino, clip = scorer_folders
    if request.param == "dinov2+siglip":
        root = tmp_path_factory.mktemp("scorers_v2")
        dino, clip = build_tiny_dinov2(root / "dinov2-small"), build_tiny_siglip(root / "siglip-base")
    return SubjectScorer(ImageEmbedder.from_folder(dino), ImageTextEmbedder.from_folder(clip))


def _picture(seed: int) -> torch.Tensor:
    return torch.rand(64, 64, 3, generator=torch.Generator().manual_seed(seed))


def test_the_same_picture_scores_one_and_copy_paste_takes_the_side_it_is_nearer(scorer):
    reference, target = _picture(0), _picture(1)
    copied = scorer.score([reference], [reference], "put it on the left", target)
    assert copied.dino.item() == pytest.approx(1.0, abs=1e-5) and copied.clip_i.item() == pytest.approx(1.0, abs=1e-5)
    assert copied.copy_paste.item() > 0
    faithful = scorer.score([target], [reference], "put it on the left", target)
    assert faithful.copy_paste.item() < 0 and faithful.dino.item() < 1 - 1e-4
    assert -1.0 <= faithful.clip_t.item() <= 1.0 and scorer.score([target], [reference], "x").copy_paste is None


def test_rank_puts_the_result_nearest_the_reference_first(scorer):
    reference = _picture(0)
    batch = torch.stack([_picture(5), reference, _picture(6)])
    scores = scorer.score(list(batch), [reference], "a toy")
    assert rank(scores, identity_weight=1.0, instruction_weight=0.0)[0].item() == 1
    assert sorted(rank(scores).tolist()) == [0, 1, 2]


def test_a_folder_that_is_not_a_scoring_model_is_refused(scorer_folders, tmp_path):
    dino, _ = scorer_folders
    with pytest.raises(ModelFolderError, match="not an image-text model"):
        ImageTextEmbedder.from_folder(dino)
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "config.json").write_text('{"model_type": "vit"}')
    (pickled / "pytorch_model.bin").write_bytes(b"")
    with pytest.raises(ModelFolderError, match="only safetensors"):
        ImageEmbedder.from_folder(pickled)


def _evaluate(parts, mllm: str, scorers: tuple[str, str], out: str, launcher: tuple = (), *options: str
              ) -> list[dict]:
    dino, clip = scorers
    command = [sys.executable, *launcher, "-m", "squeeze_core", "evaluate-dla", "--data", parts.data, "--out", out,
               "--mllm", mllm, "--transformer-model", parts.transformer, "--vae", parts.vae, "--dino", dino,
               "--clip", clip, "--seeds", "2", "--steps", "2", "--resolution", "64", "--vision-resolution", "112",
               *options]
    finished = subprocess.run(command, cwd=ROOT, env=ENVIRONMENT, capture_output=True, text=True, timeout=900)
    assert finished.returncode == 0, finished.stderr[-4000:]
    with open(os.path.join(out, "scores.csv"), encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_evaluate_dla_writes_one_table_from_one_or_two_processes(tiny_mllm_folder, scorer_folders, tmp_path):
    parts = write_recipe_parts(str(tmp_path / "parts"))
    mllm = str(tiny_mllm_folder("qwen2_5_vl"))
    one = _evaluate(parts, mllm, scorer_folders, str(tmp_path / "one"))
    two = _evaluate(parts, mllm, scorer_folders, str(tmp_path / "two"), TWO_PROCESSES)
    assert len(one) == 6 * 2 and [(r["line"], r["seed"]) for r in one] == [(r["line"], r["seed"]) for r in two]
    for a, b in zip(one, two):
        for name in ("dino", "clip_i", "clip_t", "copy_paste"):
            assert float(a[name]) == pytest.approx(float(b[name]), abs=1e-5)
    table = (tmp_path / "one" / "scores.md").read_text()
    assert "| one | 12 |" in table and table.count("[") == 4, table
    _evaluate(parts, mllm, scorer_folders, str(tmp_path / "other"), (), "--cfg", "1.0", "--schedule", "always")
    same = _compare(tmp_path / "one", tmp_path / "two")
    assert len(same) == 4 and all(_rounds_to_zero(line) for line in same), same
    other = _compare(tmp_path / "one", tmp_path / "other")
    assert len(other) == 4 and not all(_rounds_to_zero(line) for line in other), other


def _rounds_to_zero(line: str) -> bool:
    """A compare-scores line whose difference and interval print as zero: two processes sum in another order,
    so a difference of 1e-7 may print as -0.000."""
    return re.search(r"[+-]0\.000 \(95% [+-]0\.000 to [+-]0\.000,", line) is not None


def _compare(a, b) -> list[str]:
    """compare-scores on two evaluations: the table's figure lines."""
    command = [sys.executable, "-m", "squeeze_core", "compare-scores", str(a / "scores.csv"), str(b / "scores.csv")]
    finished = subprocess.run(command, cwd=ROOT, env=ENVIRONMENT, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr[-3000:]
    return [line for line in finished.stdout.splitlines() if line.startswith("| ") and "minus" not in line]
