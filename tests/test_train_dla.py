"""The DLA recipe (``train-dla``) on tiny random models of the real architectures and a dataset the CLI wrote:
two processes (gloo) train what one process with the same global batch trains, with the transformer copied (DDP)
or split (FSDP), a resumed run equals an uninterrupted one, checkpoints resume across DDP and FSDP, every MLLM
family (the Qwen ones and LLaVA) trains, bf16 with gradient checkpointing and the feature cache run, the files it
writes load in the standalone pipeline, and the full-size step benchmark runs at test size."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace

import pytest
import torch
from safetensors.torch import load_file

from squeeze_core.files import load_diffusion_model, load_dla, load_lora
from squeeze_core.pipeline import SqueezePipeline
from squeeze_core.tiny_models import FAMILIES, OTHER_FAMILIES
from squeeze_core.training.recipe import RunFiles
from tests.harness.recipe_runs import ENVIRONMENT, ROOT, TWO_PROCESSES, train_dla, write_recipe_parts


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    return write_recipe_parts(str(tmp_path_factory.mktemp("recipe")))


@pytest.fixture(scope="module")
def mllm(tiny_mllm_folder) -> str:
    return str(tiny_mllm_folder("qwen2_5_vl"))


@pytest.fixture(scope="module")
def one_process(parts, mllm, tmp_path_factory) -> str:
    out = str(tmp_path_factory.mktemp("one") / "run")
    train_dla(parts, mllm, out, "--accumulation", "2")
    return out


@pytest.fixture(scope="module")
def two_processes(parts, mllm, tmp_path_factory) -> tuple[str, str]:
    out = str(tmp_path_factory.mktemp("two") / "run")
    return out, train_dla(parts, mllm, out, "--accumulation", "1", launcher=TWO_PROCESSES).stderr


@pytest.fixture(scope="module")
def split_transformer(parts, mllm, tmp_path_factory) -> tuple[str, str]:
    out = str(tmp_path_factory.mktemp("fsdp") / "run")
    return out, train_dla(parts, mllm, out, "--accumulation", "1", "--fsdp", launcher=TWO_PROCESSES).stderr


def _log(out: str) -> list[dict]:
    with open(os.path.join(out, "log.jsonl"), encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def _outputs(out: str) -> dict[str, torch.Tensor]:
    files = RunFiles(out, "squeeze")
    return {**{f"dla.{k}": v for k, v in load_file(files.dla).items()},
            **{f"lora.{k}": v for k, v in load_file(files.lora).items()}}


def test_the_run_logs_each_step_of_both_stages_and_trains_the_dla_and_the_lora(one_process, mllm):
    log = _log(one_process)
    assert [entry["step"] for entry in log] == [1, 2, 3, 4] and [entry["stage"] for entry in log] == [1, 1, 2, 2]
    assert all(entry["loss"] > 0 and entry["lr"] == 1e-2 for entry in log)
    lora = load_lora(RunFiles(one_process, "squeeze").lora)
    assert len(lora) == 2 * 8, "every attention projection of both blocks"
    moved = {name for name, (_, up) in lora.items() if up.abs().max() > 0}
    unused = {"transformer_blocks.1.attn.add_q_proj", "transformer_blocks.1.attn.to_add_out"}
    assert moved == set(lora) - unused, "B starts at zero; training moves every B but the last block's text-stream " \
        "outputs, which no prediction reads"
    load_dla(RunFiles(one_process, "squeeze").dla, mllm_hidden_size=32, mllm_num_layers=4)


def _assert_trains_what_one_process_trains(one_process: str, out: str) -> None:
    one, two = _log(one_process), _log(out)
    assert [entry["step"] for entry in two] == [1, 2, 3, 4]
    for a, b in zip(one, two):
        assert abs(a["loss"] - b["loss"]) <= 1e-5 * a["loss"], (a, b)
    expected, found = _outputs(one_process), _outputs(out)
    worst = max((expected[name] - found[name]).abs().max().item() for name in expected)
    assert worst <= 1e-4, f"two processes moved a weight {worst} away from one process"


def _cut_after_step_2(run: str, out: str) -> str:
    """A copy of ``run`` as an interruption after step 2 leaves it, with a later checkpoint cut short while written
    and a log line past the checkpoint."""
    shutil.copytree(run, out)
    files = RunFiles(out, "squeeze")
    for path in (os.path.join(out, "checkpoints", "step-00000004"), os.path.dirname(files.dla),
                 os.path.dirname(files.lora)):
        shutil.rmtree(path)
    with open(files.log, "a", encoding="utf-8") as handle:
        handle.write(json.dumps({"step": 5, "stage": 2, "loss": 9.0, "lr": 0.0}) + "\n")
    os.makedirs(os.path.join(out, "checkpoints", "step-00000009.partial"))
    return out


def test_two_processes_train_what_one_process_trains(one_process, two_processes):
    out, log = two_processes
    assert "on 2 process(es)" in log and "split by FSDP" not in log
    _assert_trains_what_one_process_trains(one_process, out)


def test_fsdp_over_two_processes_trains_what_one_process_trains(one_process, split_transformer):
    out, log = split_transformer
    assert "split by FSDP) on 2 process(es)" in log
    _assert_trains_what_one_process_trains(one_process, out)


def test_fsdp_accumulates_gradients_over_micro_steps(parts, mllm, tmp_path):
    """Gradient accumulation under FSDP: two processes with accumulation 2 train what one process with accumulation
    4 trains."""
    one, split = str(tmp_path / "one"), str(tmp_path / "split")
    train_dla(parts, mllm, one, "--accumulation", "4")
    train_dla(parts, mllm, split, "--accumulation", "2", "--fsdp", launcher=TWO_PROCESSES)
    _assert_trains_what_one_process_trains(one, split)


@pytest.mark.parametrize("written, resumed", [("split", "copied"), ("copied", "split")])
def test_a_checkpoint_resumes_across_fsdp_and_ddp(parts, mllm, one_process, two_processes, split_transformer,
                                                   written, resumed, tmp_path):
    """Checkpoints hold whole tensors: one written with the transformer split resumes with it copied, and back."""
    run = (split_transformer if written == "split" else two_processes)[0]
    out = _cut_after_step_2(run, str(tmp_path / "interrupted"))
    split = ("--fsdp",) if resumed == "split" else ()
    finished = train_dla(parts, mllm, out, "--accumulation", "1", "--resume", *split, launcher=TWO_PROCESSES)
    assert "steps 3-4 of 4" in finished.stderr
    _assert_trains_what_one_process_trains(one_process, out)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU (nccl)")
def test_on_a_gpu_fsdp_over_nccl_trains_and_resumes_what_the_copied_transformer_does(parts, mllm, tmp_path):
    """bf16 with gradient checkpointing on one GPU: split by FSDP (one nccl process) as copied, and a copied run's
    checkpoint resumed split."""
    one_gpu = ("-m", "torch.distributed.run", "--nproc_per_node", "1")
    precision = ("--mixed-precision", "bf16", "--gradient-checkpointing")
    copied, split = str(tmp_path / "copied"), str(tmp_path / "split")
    train_dla(parts, mllm, copied, *precision, launcher=one_gpu)
    assert "cuda" in train_dla(parts, mllm, split, *precision, "--fsdp", launcher=one_gpu).stderr
    resumed = _cut_after_step_2(copied, str(tmp_path / "resumed"))
    train_dla(parts, mllm, resumed, *precision, "--fsdp", "--resume", launcher=one_gpu)
    for out in (split, resumed):
        _assert_trains_what_one_process_trains(copied, out)


def test_fsdp_in_one_process_is_refused_with_the_launch_command(parts, mllm, tmp_path):
    alone = train_dla(parts, mllm, str(tmp_path / "run"), "--fsdp", check=False)
    assert alone.returncode != 0 and "accelerate launch --multi_gpu --num_processes N" in alone.stderr


def test_a_resumed_run_equals_the_uninterrupted_one(parts, mllm, one_process, tmp_path):
    """Cut after step 2: the resumed run is the uninterrupted one, bit for bit."""
    out = _cut_after_step_2(one_process, str(tmp_path / "interrupted"))
    finished = train_dla(parts, mllm, out, "--accumulation", "2", "--resume")
    assert "steps 3-4 of 4" in finished.stderr
    assert _log(out) == _log(one_process)
    expected, found = _outputs(one_process), _outputs(out)
    assert all(torch.equal(expected[name], found[name]) for name in expected)


def test_resuming_under_other_settings_or_training_over_a_run_is_refused(parts, mllm, one_process, tmp_path):
    out = str(tmp_path / "other")
    shutil.copytree(one_process, out)
    changed = train_dla(parts, mllm, out, "--accumulation", "2", "--resume", "--learning-rate", "0.5", check=False)
    assert changed.returncode != 0 and "other settings (learning_rate)" in changed.stderr
    again = train_dla(parts, mllm, out, "--accumulation", "2", check=False)
    assert again.returncode != 0 and "pass --resume" in again.stderr


def test_a_bad_dataset_row_is_named(parts, mllm, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(parts.data, data)
    with open(data / "manifest.jsonl", "a", encoding="utf-8") as handle:
        handle.write('{"references": ["../outside.png"], "instruction": "x", "target": "t.png"}\n')
    bad = train_dla(replace(parts, data=str(data)), mllm, str(tmp_path / "run"), check=False)
    assert bad.returncode != 0 and "manifest.jsonl line 7" in bad.stderr and "leaves the dataset folder" in bad.stderr


@pytest.mark.parametrize("family", FAMILIES + OTHER_FAMILIES)
def test_every_mllm_family_trains_from_diffusers_folders(parts, tiny_mllm_folder, family, tmp_path):
    out = str(tmp_path / family)
    train_dla(parts, str(tiny_mllm_folder(family)), out, "--stage1-steps", "1", "--stage2-steps", "1", folders=True)
    assert all(torch.isfinite(torch.tensor(entry["loss"])) for entry in _log(out))
    assert os.path.isfile(RunFiles(out, "squeeze").lora)


def test_bf16_gradient_checkpointing_and_the_feature_cache(parts, mllm, tmp_path):
    cache = str(tmp_path / "features")
    options = ("--mixed-precision", "bf16", "--gradient-checkpointing", "--feature-cache", cache)
    first, second = str(tmp_path / "first"), str(tmp_path / "second")
    train_dla(parts, mllm, first, *options)
    written = sorted(os.listdir(cache))
    assert "cache.json" in written and len(written) > 1
    train_dla(parts, mllm, second, *options)
    assert sorted(os.listdir(cache)) == written, "the second run read every encoding back"
    assert _log(first) == _log(second)
    other = tmp_path / "other_data"
    shutil.copytree(parts.data, other)
    (other / "manifest.jsonl").write_text("\n".join(reversed((other / "manifest.jsonl").read_text().splitlines())))
    refused = train_dla(replace(parts, data=str(other)), mllm, str(tmp_path / "third"), *options, check=False)
    assert refused.returncode != 0 and "feature cache" in refused.stderr and "manifest" in refused.stderr
    assert all(torch.isfinite(torch.tensor(entry["loss"])) for entry in _log(first))


def test_the_transformer_trained_fully_or_not_at_all(parts, mllm, tmp_path):
    full, frozen = str(tmp_path / "full"), str(tmp_path / "frozen")
    train_dla(parts, mllm, full, "--transformer", "full")
    trained = load_diffusion_model(RunFiles(full, "squeeze").diffusion_model)
    original = load_diffusion_model(parts.transformer)
    assert any(not torch.equal(a, b) for a, b in zip(trained.state_dict().values(), original.state_dict().values()))
    train_dla(parts, mllm, frozen, "--transformer", "frozen")
    files = RunFiles(frozen, "squeeze")
    assert os.path.isfile(files.dla) and not os.path.exists(files.lora)


def test_the_pipeline_loads_the_dla_and_merges_the_lora(parts, mllm, one_process):
    files = RunFiles(one_process, "squeeze")
    reference = torch.rand(64, 64, 3, generator=torch.Generator().manual_seed(0))

    def latents(**lora) -> torch.Tensor:
        pipeline = SqueezePipeline.from_files(mllm, parts.transformer, parts.vae, files.dla, vision_resolution=112,
                                              **lora)
        pipeline.set_progress_bar_config(disable=True)
        return pipeline("put it on the left", [reference], num_inference_steps=2, output_type="latent",
                        generator=torch.Generator().manual_seed(1)).latents

    plain = latents()
    assert torch.equal(latents(lora_path=files.lora, lora_strength=0.0), plain)
    assert (latents(lora_path=files.lora) - plain).abs().max() > 1e-4


def test_the_training_step_benchmark_runs_at_test_size():
    finished = subprocess.run([sys.executable, "scripts/benchmark_train_step.py", "--tiny", "--rounds", "2"], cwd=ROOT,
                              env=ENVIRONMENT, capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr[-3000:]
    report = json.loads(finished.stdout)
    assert report["trained_parameters"] > 0 and len(report["checkpointing on"]["seconds"]) == 2
    assert report["time_ratio_on_to_off"]["median"] > 0
