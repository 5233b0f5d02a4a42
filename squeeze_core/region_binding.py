"""Where each reference belongs in the output: a region per reference, turned into a per-query attention bias.

A target token whose cell lies a fraction m inside reference k's region gives reference k's tokens (its
VAE latents and, on the MLLM path, its picture's image tokens) the weight

    w_k = 1 - s * (1 - m)

with s the binding strength (0: off, 1: hard): tokens inside the region attend to it as before, tokens
outside attend to it s less. As with the stream weights, log w_k joins the attention logits, so the bias
on query i and key j is b(j) + sum_k log w_k(i) * [j belongs to reference k], a rank-K sum that folds into
K extra query/key channels (key_bias_fold). A hard bind is floored at HARD_LOG_WEIGHT, a weight of 1e-13:
finite, so the fold and the mask compute the same softmax. A binding that changes nothing (s = 0, or a
region covering every token) is no binding at all, so it is the stock call bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .errors import SqueezeError
from .stream_weights import StepPlan

HARD_LOG_WEIGHT = -30.0


class RegionError(SqueezeError):
    """A region that is not a mask or box of fractions in 0..1, or a binding strength outside 0..1."""


@dataclass(frozen=True, eq=False)
class Region:
    """A reference's place in the output: a coverage mask (any resolution, values 0..1, stretched over the
    image) or a box (left, top, right, bottom in fractions of the image's width and height), and how hard
    it binds (0: off, 1: hard). Compared by identity: a mask's tensor has no single truth value."""

    mask: torch.Tensor | None = None
    box: tuple[float, float, float, float] | None = None
    strength: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "strength", check_binding_strength(self.strength))
        if (self.mask is None) == (self.box is None):
            raise RegionError("a region is either a mask or a box, exactly one of them")
        if self.mask is not None:
            if self.mask.ndim != 2 or 0 in self.mask.shape:
                raise RegionError(f"a region mask is one [height, width] plane; got shape {list(self.mask.shape)}")
            if not bool(torch.isfinite(self.mask).all()) or self.mask.min() < 0 or self.mask.max() > 1:
                raise RegionError("a region mask holds coverage values in 0..1")
        else:
            left, top, right, bottom = (float(value) for value in self.box)
            if not all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in (left, top, right, bottom)):
                raise RegionError(f"a region box is given in fractions 0..1 of the image; got {self.box}")
            if right <= left or bottom <= top:
                raise RegionError(f"a region box needs left < right and top < bottom; got {self.box}")
            object.__setattr__(self, "box", (left, top, right, bottom))

    def coverage(self, height: int, width: int) -> torch.Tensor:
        """[height, width] float32: the share of each cell of a height x width grid over the image that lies
        in the region (a box exactly, a mask by area averaging)."""
        if self.mask is not None:
            return F.adaptive_avg_pool2d(self.mask.to(torch.float32)[None, None], (height, width))[0, 0].clamp(0, 1)
        left, top, right, bottom = self.box
        return _axis_overlap(top, bottom, height)[:, None] * _axis_overlap(left, right, width)[None, :]


def _axis_overlap(start: float, end: float, cells: int) -> torch.Tensor:
    """The share of each of ``cells`` equal cells of 0..1 that lies inside start..end."""
    edges = torch.arange(cells + 1, dtype=torch.float64) / cells
    overlap = (torch.minimum(edges[1:], torch.tensor(end)) - torch.maximum(edges[:-1], torch.tensor(start)))
    return (overlap.clamp(min=0.0) * cells).clamp(max=1.0).to(torch.float32)


def check_binding_strength(strength: float) -> float:
    if not (math.isfinite(strength) and 0.0 <= strength <= 1.0):
        raise RegionError(f"a region's binding strength is 0 (off) to 1 (hard); got {strength}")
    return float(strength)


def binding_strengths(regions: Sequence[Region | None]) -> list[float | None]:
    """Each reference's binding strength for ``plan_step`` (None: it has no region)."""
    return [None if region is None else region.strength for region in regions]


def query_log_weights(region: Region, strength: float, grid: tuple[int, int, int]) -> torch.Tensor | None:
    """[frames * height * width] log weight of the reference for each target token of a (frames, height,
    width) token grid, row-major per frame as the models flatten it; None when the binding changes nothing."""
    strength = check_binding_strength(strength)
    frames, height, width = grid
    if strength == 0.0:
        return None
    coverage = region.coverage(height, width).flatten()
    if bool((coverage == 1.0).all()):
        return None
    weights = 1.0 - strength * (1.0 - coverage)
    return torch.log(weights).clamp(min=HARD_LOG_WEIGHT).repeat(frames)


@dataclass(frozen=True)
class BoundReferences:
    """The R references whose regions bind at one step, and which tokens of the call belong to each."""

    query_log_weights: torch.Tensor
    """[R, target tokens]"""
    picture_members: torch.Tensor
    """[..., T, R] bool: the context tokens that are an image token of the reference's picture."""
    reference_members: torch.Tensor
    """[K, R] bool: which of the call's K kept references each one is (a column of zeros: it was dropped)."""


def bind_references(plan: StepPlan, regions: Sequence[Region | None], grid: tuple[int, int, int],
                    picture_tokens: Callable[[int], torch.Tensor]) -> BoundReferences | None:
    """The bindings of ``plan`` over a target token ``grid``: reference k binds its kept latents and the tokens
    ``picture_tokens(k)`` marks ([..., T] bool: picture k's image tokens in the call's context, none where they
    were dropped). None when no binding changes anything."""
    logs, pictures, members = [], [], []
    for k, strength in plan.bindings:
        weights = query_log_weights(regions[k], strength, grid)
        picture = picture_tokens(k)
        latent = torch.tensor([kept == k for kept in plan.kept_references], dtype=torch.bool)
        if weights is None or not (bool(picture.any()) or bool(latent.any())):
            continue
        logs.append(weights)
        pictures.append(picture)
        members.append(latent)
    if not logs:
        return None
    return BoundReferences(torch.stack(logs), torch.stack(pictures, dim=-1), torch.stack(members, dim=-1))
