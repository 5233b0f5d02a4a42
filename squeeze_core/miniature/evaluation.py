"""Exact scores of a pipeline on held-out subjects: instruction followed, identity kept (palette, shape,
texture) and copy-paste, each with a 95% confidence interval, beside a random-reference baseline."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import numpy as np
import torch

from .domain_data import DomainDataset, Sample, draw_samples
from ..intervals import Interval, mean_interval, proportion
from .metrics import copy_paste, identity_kept, instruction_followed
from ..pipeline import SqueezePipeline
from ..schedule import StageSchedule
from .subjects import split_subjects

@dataclass
class Scores:
    cases: int
    rates: dict[str, Interval] = field(default_factory=dict)
    copy_paste: Interval | None = None


CRITERIA = ("instruction", "position", "scale", "background", "count", "palette", "shape", "texture")


def held_out_cases(count: int, seed: int = 0) -> list[Sample]:
    return draw_samples(count, "held_out", seed)


def random_references(cases: list[Sample], seed: int = 0) -> list[Sample]:
    """The same instructions with the reference of another held-out identity: what identity scores reach
    when the reference says nothing about the subject."""
    _, held_out = split_subjects()
    rng = random.Random(f"baseline-{seed}")
    swapped = []
    for case in cases:
        other = rng.choice([subject for subject in held_out if subject != case.subject])
        swapped.append(Sample(other, case.instruction))
    return swapped


def generate(pipeline: SqueezePipeline, cases: list[Sample], schedule: StageSchedule, *, steps: int = 20,
             seed: int = 0, batch: int = 50, image_size: int = 64) -> np.ndarray:
    """uint8 [N, H, W, 3] results, one per case, from each case's reference and instruction."""
    data = DomainDataset(cases, image_size)
    outputs = []
    for start in range(0, len(cases), batch):
        stop = min(start + batch, len(cases))
        prompts = [case.instruction.text for case in cases[start:stop]]
        references = data.references[start:stop].permute(0, 2, 3, 1)
        generator = torch.Generator().manual_seed(seed * 100003 + start)
        result = pipeline(prompts, [references], schedule=schedule, height=image_size, width=image_size,
                          num_inference_steps=steps, generator=generator)
        outputs.append(result.images)
    return np.concatenate(outputs)


def score(images: np.ndarray, cases: list[Sample], truth: list[Sample] | None = None) -> Scores:
    """Scores of ``images`` against the cases' instructions, and their identities against ``truth``
    (default: the cases themselves)."""
    truth = truth or cases
    counts = dict.fromkeys(CRITERIA, 0)
    pasted = []
    for image, case, true in zip(images, cases, truth):
        followed = instruction_followed(image, case.instruction)
        kept = identity_kept(image, true.subject, case.instruction)
        for name, value in {**followed, **kept}.items():
            counts[name] += bool(value)
        counts["instruction"] += all(followed.values())
        pasted.append(copy_paste(image, true.subject))
    total = len(cases)
    return Scores(total, {name: proportion(counts[name], total) for name in CRITERIA}, mean_interval(pasted))
