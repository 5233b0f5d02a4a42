"""The standalone pipeline keeps the diffusers contract: one folder saved and reloaded bit-exactly, a generator,
a step callback that can read and replace the latents, interruption, a progress bar, model offload and the
output types. Tiny random models of the real architectures, on the CPU."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch
from PIL import Image

from squeeze_core.miniature.domain.scenes import Pose, render
from squeeze_core.miniature.domain.subjects import split_subjects
from squeeze_core.pipeline import SqueezePipeline, SqueezePipelineOutput
from tests.harness.tiny_parts import tiny_squeeze_pipeline

PROMPT = "put it small in the top left on a sky background"
PARTS = ("transformer", "vae", "mllm", "dla")


@pytest.fixture(scope="module")
def pipe(tmp_path_factory):
    return tiny_squeeze_pipeline(tmp_path_factory.mktemp("mllm") / "tiny_qwen2_5_vl")


@pytest.fixture(scope="module")
def reference():
    return render([split_subjects()[1][0]], [Pose("middle east", 1)], "grey")[0]


def _latents(pipe, reference, seed: int = 0, **options) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return pipe(PROMPT, [reference], num_inference_steps=3, generator=generator, output_type="latent",
                **options).latents


def test_save_and_reload_one_folder_bit_exactly(pipe, reference, tmp_path):
    pipe.save_pretrained(tmp_path / "squeeze")
    index = json.loads((tmp_path / "squeeze" / "model_index.json").read_text())
    assert index["_class_name"] == "SqueezePipeline"
    assert index["dla"] == ["squeeze_core.pipeline_dla", "PipelineDLA"]
    assert index["vision_resolution"] == 112 and index["text_only"] is False
    assert not list((tmp_path / "squeeze").rglob("*.bin")), "weights are saved as safetensors only"
    loaded = SqueezePipeline.from_pretrained(tmp_path / "squeeze")
    loaded.set_progress_bar_config(disable=True)
    for part in PARTS:
        ours, theirs = getattr(pipe, part).state_dict(), getattr(loaded, part).state_dict()
        assert ours.keys() == theirs.keys(), part
        assert all(torch.equal(ours[name], theirs[name]) for name in ours), part
    # The weights are bit-exact; the result may differ in the last bit, because CPU kernels take other paths on
    # memory-mapped (differently aligned) weights: copying the loaded weights makes it exact.
    assert torch.allclose(_latents(pipe, reference), _latents(loaded, reference), rtol=0, atol=1e-5)


def test_from_pretrained_never_runs_remote_code(tmp_path):
    with pytest.raises(ValueError, match="trust_remote_code"):
        SqueezePipeline.from_pretrained(tmp_path, trust_remote_code=True)


def test_generator_decides_the_noise(pipe, reference):
    first = _latents(pipe, reference, seed=5)
    assert torch.equal(first, _latents(pipe, reference, seed=5))
    assert not torch.allclose(first, _latents(pipe, reference, seed=6))


def test_step_callback_reads_replaces_and_interrupts(pipe, reference):
    seen = []

    def record(pipeline, step, sigma, values):
        seen.append((step, sigma, values["latents"].clone()))
        return {"latents": torch.zeros_like(values["latents"])} if step == 2 else values

    result = pipe(PROMPT, [reference], num_inference_steps=3, generator=torch.Generator().manual_seed(0),
                  output_type="latent", callback_on_step_end=record)
    assert [step for step, _, _ in seen] == [0, 1, 2]
    assert seen[0][1] == pytest.approx(1.0)
    assert torch.count_nonzero(result.latents) == 0, "the latents the callback returned are the result"

    def stop_after_first(pipeline, step, sigma, values):
        pipeline.stop()
        return values

    stopped = _latents(pipe, reference, callback_on_step_end=stop_after_first)
    assert torch.equal(stopped, seen[0][2])
    with pytest.raises(ValueError, match="noise"):
        pipe(PROMPT, [reference], callback_on_step_end=record, callback_on_step_end_tensor_inputs=["noise"])


def test_progress_bar_counts_the_steps(pipe, reference):
    stream = io.StringIO()
    pipe.set_progress_bar_config(file=stream, disable=False)
    try:
        _latents(pipe, reference)
    finally:
        pipe.set_progress_bar_config(disable=True)
    assert "3/3" in stream.getvalue()


def test_model_cpu_offload_gives_the_same_result(pipe, reference, tmp_path):
    pipe.save_pretrained(tmp_path / "squeeze")
    offloaded = SqueezePipeline.from_pretrained(tmp_path / "squeeze")
    offloaded.set_progress_bar_config(disable=True)
    offloaded.enable_model_cpu_offload(device="cpu")
    assert torch.allclose(_latents(offloaded, reference), _latents(pipe, reference), atol=1e-6)


def test_output_types(pipe, reference):
    generator = torch.Generator().manual_seed(0)
    arrays = pipe(PROMPT, [reference], num_inference_steps=2, generator=generator)
    assert isinstance(arrays, SqueezePipelineOutput)
    assert arrays.images.dtype == np.uint8 and arrays.images.shape == (1, 64, 64, 3)
    generator = torch.Generator().manual_seed(0)
    pictures, latents = pipe(PROMPT, [reference], num_inference_steps=2, generator=generator, output_type="pil",
                             return_dict=False)
    assert isinstance(pictures[0], Image.Image) and np.array_equal(np.asarray(pictures[0]), arrays.images[0])
    assert torch.equal(latents, arrays.latents)
    with pytest.raises(ValueError, match="output_type"):
        pipe(PROMPT, [reference], output_type="tensor")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_runs_on_a_gpu_with_generators_of_either_device(pipe, reference, tmp_path):
    pipe.save_pretrained(tmp_path / "squeeze")
    on_gpu = SqueezePipeline.from_pretrained(tmp_path / "squeeze").to("cuda")
    on_gpu.set_progress_bar_config(disable=True)
    cpu_noise = _latents(on_gpu, reference, seed=0)
    assert cpu_noise.device.type == "cuda"
    assert torch.allclose(cpu_noise.cpu(), _latents(pipe, reference, seed=0), atol=1e-3)
    gpu_generator = torch.Generator("cuda").manual_seed(0)
    result = on_gpu(PROMPT, [reference], num_inference_steps=3, generator=gpu_generator)
    assert result.images.shape == (1, 64, 64, 3) and torch.isfinite(result.latents).all()
    offloaded = SqueezePipeline.from_pretrained(tmp_path / "squeeze")
    offloaded.set_progress_bar_config(disable=True)
    offloaded.enable_model_cpu_offload()
    assert torch.allclose(_latents(offloaded, reference, seed=0).cpu(), cpu_noise.cpu(), atol=1e-4)
