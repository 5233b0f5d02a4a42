"""Training and evaluation samples of the procedural domain, rendered once into memory.

A sample is a reference picture of one identity, an instruction, and the exact target image and
subject mask; the same seed always gives the same samples, and train and held-out identities never
mix, so held-out figures measure generalisation to new subjects.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from .scenes import Instruction, render_reference, render_scene, sample_instruction
from .subjects import Subject, split_subjects


@dataclass(frozen=True)
class Sample:
    subject: Subject
    instruction: Instruction


def draw_samples(count: int, split: str = "train", seed: int = 0) -> list[Sample]:
    """``count`` (subject, instruction) pairs from the train or held-out identities."""
    train, held_out = split_subjects()
    identities = {"train": train, "held_out": held_out}[split]
    rng = random.Random(f"{split}-{seed}")
    return [Sample(rng.choice(identities), sample_instruction(rng)) for _ in range(count)]


class DomainDataset(Dataset):
    """Pre-rendered samples: uint8 images [3, S, S] and masks, with the instruction text."""

    def __init__(self, samples: list[Sample], size: int = 64):
        self.samples = samples
        references, targets, masks = [], [], []
        for sample in samples:
            references.append(render_reference(sample.subject, size)[0])
            target, mask = render_scene(sample.subject, sample.instruction, size)
            targets.append(target)
            masks.append(mask)
        self.references = torch.from_numpy(np.stack(references)).permute(0, 3, 1, 2).contiguous()
        self.targets = torch.from_numpy(np.stack(targets)).permute(0, 3, 1, 2).contiguous()
        self.masks = torch.from_numpy(np.stack(masks))

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict:
        return {"reference": self.references[index], "target": self.targets[index], "mask": self.masks[index],
                "text": self.samples[index].instruction.text, "index": index}
