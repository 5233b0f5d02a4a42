"""Deterministic random weights for the tiny test models (ComfyUI builds them uninitialised)."""

import torch


def initialise(module: torch.nn.Module, seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in module.named_parameters():
            if parameter.ndim == 0:
                continue
            if parameter.ndim == 1:
                parameter.copy_(torch.ones_like(parameter) if "norm" in name else torch.zeros_like(parameter))
            else:
                fan_in = parameter[0].numel()
                parameter.copy_(torch.randn(parameter.shape, generator=generator) / fan_in**0.5)
