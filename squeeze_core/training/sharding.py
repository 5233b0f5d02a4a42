"""FSDP for the diffusion transformer (``train-dla --fsdp``): each block's parameters, gradients and optimiser state
split across the launched processes with torch's ``fully_shard`` over accelerate's process group, while the small
DLA stays whole and data parallel. Checkpoints and outputs hold whole tensors, so a run written split resumes whole
and the other way round; gathering is collective, so every process calls these, and only the main one keeps the
result."""

from __future__ import annotations

import math
import warnings
from typing import Iterable

import torch
import torch.distributed as dist

from .settings import TrainingSettingsError


def _dtensor():
    from torch.distributed.tensor import DTensor

    return DTensor


def shard_transformer(transformer: torch.nn.Module, device: torch.device, precision: str) -> None:
    """Split ``transformer`` in place, one FSDP unit per block and one for the rest; in bf16 runs the units gather
    in bf16 (the float32 LoRA too, as autocast would compute it) and reduce gradients in float32."""
    if not dist.is_initialized():
        raise TrainingSettingsError("--fsdp splits the transformer across processes: run train-dla under "
                                    "accelerate launch --multi_gpu --num_processes N (N of 2 or more)")
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    blocks = getattr(transformer, "transformer_blocks", None)
    if blocks is None:
        raise TrainingSettingsError(f"--fsdp splits a transformer by its transformer_blocks, which "
                                    f"{type(transformer).__name__} lacks; train it without --fsdp")
    # The transformer's output is sliced and read, never changed in place, so FSDP's warning about returning a
    # view does not apply to it.
    warnings.filterwarnings("ignore", message="FSDP2-wrapped module .* returned a view tensor")
    mesh = init_device_mesh(device.type, (dist.get_world_size(),))
    policy = (MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32) if precision == "bf16"
              else MixedPrecisionPolicy())
    for block in blocks:
        fully_shard(block, mesh=mesh, mp_policy=policy)
    fully_shard(transformer, mesh=mesh, mp_policy=policy)


def set_gradient_sync(module: torch.nn.Module, sync: bool) -> None:
    """Hold a split module's gradients unreduced between the micro-steps of an accumulated step."""
    from torch.distributed.fsdp import FSDPModule

    if isinstance(module, FSDPModule):
        module.set_requires_gradient_sync(sync)


def whole(tensor: torch.Tensor) -> torch.Tensor:
    """The whole tensor of a split one (collective), or the tensor itself."""
    return tensor.full_tensor() if isinstance(tensor, _dtensor()) else tensor


def gathered(named: Iterable[tuple[str, torch.Tensor]], keep: bool) -> dict[str, torch.Tensor]:
    """Whole CPU copies of ``named``, one tensor at a time; empty where ``keep`` is false (every process must still
    call it, in the same order)."""
    copies = {}
    for name, tensor in named:
        full = whole(tensor.detach())
        if keep:
            copies[name] = full.cpu().contiguous()
    return copies


def split_like(full: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``full`` split as ``like`` is (collective), or ``full`` itself where ``like`` is whole."""
    if not isinstance(like, _dtensor()):
        return full
    from torch.distributed.tensor import distribute_tensor

    return distribute_tensor(full.to(device=like.device, dtype=like.dtype), like.device_mesh, like.placements)


def clip_gradient_norm(parameters: Iterable[torch.nn.Parameter], max_norm: float) -> float:
    """Scale the gradients to a total 2-norm of at most ``max_norm``, counting each split gradient's parts once
    (one all-reduce, one device sync); the norm before scaling."""
    gradients = [parameter.grad for parameter in parameters if parameter.grad is not None]
    split = [gradient for gradient in gradients if isinstance(gradient, _dtensor())]
    local = [gradient for gradient in gradients if not isinstance(gradient, _dtensor())]
    squares = torch.zeros((), dtype=torch.float64)
    if split:
        parts = torch.stack([gradient.to_local().double().square().sum() for gradient in split]).sum().reshape(1)
        dist.all_reduce(parts)
        squares = squares + parts.cpu()[0]
    if local:
        squares = squares + torch.stack([gradient.double().square().sum() for gradient in local]).sum().cpu()
    norm = math.sqrt(float(squares))
    scale = min(1.0, max_norm / (norm + 1e-6))
    if scale < 1.0:
        for group in (split, local):
            if group:
                torch._foreach_mul_(group, scale)
    return norm
