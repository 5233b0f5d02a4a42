"""Stand-in model files under the exact names the example workflows use, so they run unchanged in CI.

Each is the real architecture with deterministic random weights. The stock UNETLoader detects
Qwen-Image from a few keys and builds it at the real width, so the diffusion model keeps width
3072 and one transformer block (stored in fp8 like the file artists have, about 400 MB); the VAE
is ComfyUI's Wan 2.1 layout at width 8; the MLLM folder and the DLA are the pack's tiny ones.
They are built once into the cache (this module's own process imports ComfyUI) and linked into
each server's models folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from typing import TYPE_CHECKING

from .comfyui_trees import PROJECT_ROOT, cache_dir, comfyui_path

if TYPE_CHECKING:
    import torch

STANDIN_VERSION = 2
DIFFUSION_MODEL = ("diffusion_models", "qwen_image_edit_2509_fp8_e4m3fn.safetensors")
VAE = ("vae", "qwen_image_vae.safetensors")
MLLM = ("mllm", "Qwen2.5-VL-7B-Instruct")
DLA = ("squeeze_dla", "squeeze_dla_qwen2.5-vl-7b.safetensors")
STANDINS = (DIFFUSION_MODEL, VAE, MLLM, DLA)
CLIP_FILE = ("text_encoders", "qwen_2.5_vl_7b_fp8_scaled.safetensors")
"""Named by the CLIP workflow but never built: CLIPLoader's Qwen2.5-VL has fixed 7B sizes, so the harness
swaps that loader for the test-only SqueezeTestTinyQwenImageCLIP node instead."""


def standin_root() -> str:
    return os.path.join(cache_dir(), f"standins-v{STANDIN_VERSION}")


def ensure_standins() -> str:
    """The folder holding every stand-in, built first (in a subprocess that imports ComfyUI) if needed."""
    root = standin_root()
    if not os.path.isfile(os.path.join(root, ".complete")):
        subprocess.run([sys.executable, "-m", "tools.standins", root], cwd=PROJECT_ROOT, check=True)
    return root


def link_standins(models_dir: str) -> list[str]:
    """Symlink every stand-in into a server's models folder; returns the linked paths."""
    root = ensure_standins()
    linked = []
    for folder, name in STANDINS:
        target = os.path.join(models_dir, folder, name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if not os.path.lexists(target):
            os.symlink(os.path.join(root, folder, name), target)
        linked.append(target)
    return linked


def _initial_value(name: str, shape: tuple[int, ...], generator) -> torch.Tensor:
    import torch

    if len(shape) == 1:
        return torch.ones(shape) if "norm" in name or name.endswith("gamma") else torch.zeros(shape)
    fan_in = 1
    for size in shape[1:]:
        fan_in *= size
    return torch.randn(shape, generator=generator) / fan_in**0.5


def _qwen_image(path: str) -> None:
    import comfy.supported_models
    import torch
    from safetensors.torch import save_file

    config = comfy.supported_models.QwenImage({"image_model": "qwen_image", "in_channels": 64, "num_layers": 1})
    shapes = {name: tuple(value.shape) for name, value in config.get_model({}, device="meta")
              .diffusion_model.state_dict().items()}
    generator = torch.Generator().manual_seed(0)
    tensors = {}
    for name in sorted(shapes):
        value = _initial_value(name, shapes[name], generator)
        tensors[name] = value.to(torch.float8_e4m3fn if value.ndim >= 2 else torch.bfloat16)
    save_file(tensors, path)


def _wan_vae(path: str) -> None:
    """The tiny Qwen-Image VAE, written in the Wan 2.1 layout the stock VAELoader reads."""
    from squeeze_core.files import save_vae
    from squeeze_core.tiny_vae import build_tiny_vae

    save_vae(build_tiny_vae(seed=1), path)


def _mllm(path: str) -> None:
    from squeeze_core.tiny_models import TinyMLLMSpec, build_tiny_mllm

    build_tiny_mllm(path, TinyMLLMSpec(family="qwen2_5_vl"))


def _dla(path: str) -> None:
    """A DLA for the tiny MLLM into Qwen-Image's 3584-wide context, gates open as a trained one's are."""
    import torch

    from squeeze_core.dla import DLAConfig, DualLayerAggregator
    from squeeze_core.files import save_dla
    from squeeze_core.tiny_models import TinyMLLMSpec

    spec = TinyMLLMSpec(family="qwen2_5_vl")
    torch.manual_seed(2)
    config = DLAConfig(mllm_hidden_size=spec.hidden_size, mllm_num_layers=spec.num_layers,
                       layer_indices=tuple(range(spec.num_layers + 1)), context_dim=3584, pool_dim=32,
                       pool_heads=4, source_model=MLLM[1])
    module = DualLayerAggregator(config)
    with torch.no_grad():
        module.text_gate.fill_(0.5)
        module.image_gate.fill_(0.5)
    save_dla(module, path)


BUILDERS = {DIFFUSION_MODEL: _qwen_image, VAE: _wan_vae, MLLM: _mllm, DLA: _dla}


def build_all(root: str) -> None:
    sys.path.insert(0, comfyui_path())
    from comfy.cli_args import args

    args.cpu = True
    for (folder, name), build in BUILDERS.items():
        final = os.path.join(root, folder, name)
        if os.path.exists(final):
            continue
        os.makedirs(os.path.dirname(final), exist_ok=True)
        partial = final + ".partial"
        shutil.rmtree(partial, ignore_errors=True)
        build(partial)
        os.replace(partial, final)
    open(os.path.join(root, ".complete"), "w").close()


if __name__ == "__main__":
    build_all(sys.argv[1])
