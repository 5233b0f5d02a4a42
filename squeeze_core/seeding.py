"""Deterministic random initialisation that leaves the caller's random state alone."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch


@contextmanager
def seeded(seed: int | None) -> Iterator[None]:
    """Inside, torch's CPU generator starts from ``seed`` (None: as it is); outside, it is as before."""
    if seed is None:
        yield
        return
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield
