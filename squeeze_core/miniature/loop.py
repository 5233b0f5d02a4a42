"""One training loop for every part of the miniature, on accelerate: the same code runs on one CPU, and
on several processes, GPUs or machines under ``accelerate launch``."""

from __future__ import annotations

import logging
import math
import time
from typing import Callable, Iterable

import torch

logger = logging.getLogger("squeeze.training")


def cosine_with_warmup(optimizer: torch.optim.Optimizer, steps: int, warmup: int) -> torch.optim.lr_scheduler.LambdaLR:
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, steps - warmup))))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def batch_indices(size: int, batch: int, seed: int, process: int) -> Iterable[torch.Tensor]:
    """Endless random batches of dataset indices; each process draws its own."""
    generator = torch.Generator().manual_seed(seed * 1000 + process)
    while True:
        order = torch.randperm(size, generator=generator)
        for start in range(0, size - batch + 1, batch):
            yield order[start:start + batch]


def grouped_batch_indices(groups: Iterable[torch.Tensor], batch: int, seed: int, process: int
                          ) -> Iterable[torch.Tensor]:
    """Endless random batches, each from one group (drawn in proportion to its size): the batches of a
    dataset whose items differ in shape, such as cases with one or two references."""
    groups = [group for group in groups if len(group) >= batch]
    if not groups:
        raise ValueError(f"no group holds a batch of {batch}: train on more samples or with smaller batches")
    streams = [batch_indices(len(group), batch, seed * 7 + number, process) for number, group in enumerate(groups)]
    sizes = torch.tensor([float(len(group)) for group in groups])
    generator = torch.Generator().manual_seed(seed * 1000 + process + 500)
    while True:
        number = int(torch.multinomial(sizes, 1, generator=generator))
        yield groups[number][next(streams[number])]


def train(
    accelerator,
    modules: list[torch.nn.Module],
    loss: Callable[[torch.Tensor, int, list[torch.nn.Module]], torch.Tensor],
    *,
    size: int,
    batch: int,
    steps: int,
    learning_rate: float,
    label: str,
    seed: int = 0,
    weight_decay: float = 0.0,
    warmup: int = 100,
    ema_decay: float | None = None,
    log_every: int = 100,
    batches: Iterable[torch.Tensor] | None = None,
) -> list[torch.nn.Module]:
    """Train ``modules`` for ``steps`` on ``loss(indices, step, prepared_modules)``; returns them unwrapped,
    holding the exponential moving average of their weights when ``ema_decay`` is given.

    ``loss`` must call the prepared modules it is handed (under several processes they are the
    distributed wrappers that average the gradients). ``batches`` replaces the random batches over
    ``range(size)``.
    """
    parameters = [p for module in modules for p in module.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=learning_rate, weight_decay=weight_decay)
    scheduler = cosine_with_warmup(optimizer, steps, min(warmup, steps // 10 + 1))
    prepared = accelerator.prepare(*modules, optimizer, scheduler)
    prepared_modules, optimizer, scheduler = list(prepared[:len(modules)]), prepared[-2], prepared[-1]
    for module in prepared_modules:
        module.train()
    average = WeightAverage(parameters, ema_decay) if ema_decay is not None else None
    batches = iter(batches) if batches is not None else batch_indices(size, batch, seed, accelerator.process_index)
    started, running = time.perf_counter(), 0.0
    for step in range(steps):
        value = loss(next(batches), step, prepared_modules)
        accelerator.backward(value)
        accelerator.clip_grad_norm_(parameters, 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        if average is not None:
            average.update(step)
        running += value.item()
        if (step + 1) % log_every == 0 or step + 1 == steps:
            count = (step % log_every) + 1
            if accelerator.is_main_process:
                logger.info("%s step %d/%d loss %.4f (%.2f s/step)", label, step + 1, steps, running / count,
                            (time.perf_counter() - started) / (step + 1))
            running = 0.0
    if average is not None:
        average.apply()
    return [accelerator.unwrap_model(module).eval() for module in prepared_modules]


class WeightAverage:
    """An exponential moving average of the weights: it evens out the last steps' noise, which in small
    diffusion models shows up as stray blobs in the samples. The decay warms up, so early weights fade fast."""

    def __init__(self, parameters: list[torch.nn.Parameter], decay: float) -> None:
        self.parameters = parameters
        self.decay = decay
        self.shadow = [p.detach().clone() for p in parameters]

    @torch.no_grad()
    def update(self, step: int) -> None:
        decay = min(self.decay, (1 + step) / (10 + step))
        for averaged, parameter in zip(self.shadow, self.parameters):
            averaged.lerp_(parameter, 1 - decay)

    @torch.no_grad()
    def apply(self) -> None:
        for parameter, averaged in zip(self.parameters, self.shadow):
            parameter.copy_(averaged)
