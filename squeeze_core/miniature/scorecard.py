"""One sampling setup (a trained miniature, a stage schedule, a guidance scale) scored on held-out cases, every
figure exact and kept per case: two setups run on the same cases with the same noise compare pairwise.

Figures: ``instruction`` (ground, count, place and turn all right), ``orientation``, coarse identity
(``shape``, ``palette`` in order), ``mid`` and ``fine`` bit accuracy (chance 0.5), ``copy`` (the reference's
turn shown where another was asked), ``open_distance`` (degrees from the reference's turn where the turn was
left open), ``leak`` (two subjects: the share of differing coarse attributes shown with the other's value), ``row``
and ``column`` (one subject: each axis of its place on its own, which tells a model that reads one axis's words
from one that reads both).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .case_data import CaseData
from .domain.cases import Case
from .domain.scoring import score_case
from ..region_binding import Region
from ..schedule import StageSchedule

FIGURES = ("instruction", "orientation", "shape", "palette", "mid", "fine", "copy", "open_distance", "leak", "row",
           "column")
BINARY = ("instruction", "orientation", "copy", "row", "column")
"""Figures that are 0 or 1 per case (compared by McNemar); the others are graded (paired bootstrap). Shape is graded:
a two-subject case scores the mean of its two subjects' shapes."""


@dataclass
class Scorecard:
    figures: dict[str, np.ndarray]
    """Per figure, one value per case, NaN where the case does not define it."""

    @classmethod
    def of(cls, images: np.ndarray, cases: list[Case]) -> Scorecard:
        rows = [score_case(image, case) for image, case in zip(images, cases)]
        return cls({name: np.array([row.get(name, np.nan) for row in rows], dtype=float) for name in FIGURES})

    @classmethod
    def pooled(cls, cards: list[Scorecard]) -> Scorecard:
        """The cases of several cards as one (each setup's cards in the same order pair case by case)."""
        return cls({name: np.concatenate([card.figures[name] for card in cards]) for name in FIGURES})

    def as_lists(self) -> dict[str, list[float | None]]:
        """Every figure per case, None where undefined: what JSON can hold."""
        return {name: [None if np.isnan(value) else float(value) for value in values]
                for name, values in self.figures.items()}

    def mean(self, name: str) -> tuple[float, int]:
        """(mean over the cases that define ``name``, how many do)."""
        values = self.figures[name]
        defined = values[~np.isnan(values)]
        return (float(defined.mean()) if len(defined) else float("nan")), len(defined)


def case_noise(cases: int, shape: tuple[int, ...], seed: int) -> torch.Tensor:
    """[N, *shape] starting noise, case k's drawn from (seed, k) alone: any setup sees the same noise."""
    return torch.stack([torch.randn(shape, generator=torch.Generator().manual_seed(seed * 1_000_003 + k))
                        for k in range(cases)])


def generate(pipeline, data: CaseData, schedule: StageSchedule, *, steps: int = 20, guidance: float = 1.0,
             seed: int = 0, batch: int = 50, bind_regions: bool = False) -> np.ndarray:
    """uint8 [N, S, S, 3] results, one per case of ``data``, batched by reference count; ``bind_regions`` binds
    each picture of a two-subject case to where its instruction puts it (hard)."""
    size = data.targets.shape[-1]
    noise = case_noise(len(data), (pipeline.vae.config.z_dim, size // 8, size // 8), seed)
    outputs = np.zeros((len(data), size, size, 3), dtype=np.uint8)
    groups = data.region_groups() if bind_regions else {(count, None): rows for count, rows in data.groups().items()}
    for (count, boxes), members in groups.items():
        regions = None if boxes is None else [Region(box=box) for box in boxes]
        for start in range(0, len(members), batch):
            rows = members[start:start + batch]
            prompts = [data.cases[row].instruction.text for row in rows.tolist()]
            references = [data.references[rows, slot].permute(0, 2, 3, 1) for slot in range(count)]
            result = pipeline(prompts, references, schedule=schedule, reference_regions=regions, height=size,
                              width=size, num_inference_steps=steps, guidance_scale=guidance, latents=noise[rows])
            outputs[rows.numpy()] = result.images
    return outputs
