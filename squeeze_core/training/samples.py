"""The order in which a run sees its samples, and every random choice it makes about each one, as functions of
the sample's global position alone: one process with accumulation n*a and n processes with accumulation a see
the same samples in each optimiser step, draw the same noise for them, and a resumed run continues the stream
exactly where the interrupted one was."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Iterator

import torch

from ..flow_matching import sample_sigmas
from ..manifest import cycled_rows, read_picture
from .settings import RecipeStage, TrainingSettings


def global_position(local: int, rank: int, world: int) -> int:
    """The position in the dataset stream of process ``rank``'s ``local``-th sample."""
    return local * world + rank


class TrainingSamples(torch.utils.data.IterableDataset):
    """Process ``rank``'s samples from optimiser step ``start_step`` on, endlessly; each data-loader worker reads
    every ``workers``-th one, which the loader's round-robin puts back in order."""

    def __init__(self, folder: str, rank: int, world: int, accumulation: int, start_step: int = 0):
        self.folder, self.rank, self.world = folder, rank, world
        self.first_local = start_step * accumulation

    def __iter__(self) -> Iterator[dict]:
        info = torch.utils.data.get_worker_info()
        workers, worker = (1, 0) if info is None else (info.num_workers, info.id)
        start = global_position(self.first_local + worker, self.rank, self.world)
        for position, row in cycled_rows(self.folder, start, workers * self.world):
            yield {"position": position, "line": row.line, "instruction": row.instruction,
                   "references": [read_picture(path, row.line) for path in row.references],
                   "target": read_picture(row.target, row.line)}


@dataclass(frozen=True)
class SampleDraw:
    drop_instruction: bool
    drop_image_tokens: bool
    kept_references: tuple[bool, ...]
    sigma: torch.Tensor
    """[1] noise level in 0..1."""
    generator: torch.Generator
    """Draws the sample's noise next."""


def draw_sample(settings: TrainingSettings, stage: RecipeStage, position: int, references: int) -> SampleDraw:
    choices = random.Random(f"{settings.seed}:{position}")
    generator = torch.Generator().manual_seed(settings.seed * 1_000_003 + position)
    drop_instruction = choices.random() < settings.instruction_drop_rate
    drop_image_tokens, kept_references = stage.draw_streams(choices.random, references)
    return SampleDraw(drop_instruction, drop_image_tokens, kept_references, sample_sigmas(1, generator), generator)
