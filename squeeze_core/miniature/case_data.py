"""The domain's cases rendered once into memory for training and evaluation: each case's reference pictures
(one or two), the exact target, the instruction, and the words the MLLM is taught for every picture.

Training cases come from the training subjects, evaluation cases from the held-out ones (whose fine codes no
training subject carries). A share of training cases is unconditional (the instruction left empty, the
pictures kept), so classifier-free guidance has the prediction it steers away from.
"""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import torch

from .domain.cases import Case, draw_cases, instructed_boxes, render_case
from .domain.scenes import describe
from .domain.subjects import BLOCK, CODE_ORIGIN, split_subjects

MAX_REFERENCES = 2
EMPTY_INSTRUCTION = " "
"""The instruction of an unconditional case: what the samplers encode as the negative prompt."""


def draw_split(count: int, split: str, seed: int = 0) -> list[Case]:
    """``count`` cases of the ``train`` or ``held_out`` subjects; the same arguments give the same cases."""
    train, held_out = split_subjects()
    subjects = {"train": train, "held_out": held_out}[split]
    return draw_cases(count, subjects, seed * 2 + (split == "held_out"))


def with_other_subjects(cases: list[Case], seed: int = 0) -> list[Case]:
    """Each held-out case with other held-out subjects in its subjects' places, all else kept: what an identity
    score gives subjects that are not the ones shown (a random-reference baseline)."""
    held_out = split_subjects()[1]
    rng = random.Random(f"other-subjects-{seed}")
    swapped = []
    for case in cases:
        others = [subject for subject in held_out if subject not in case.subjects]
        swapped.append(replace(case, subjects=tuple(rng.sample(others, len(case.subjects)))))
    return swapped


class CaseData:
    """uint8 pictures [N, 3, S, S] (references [N, MAX_REFERENCES, 3, S, S], empty slots black) and texts."""

    def __init__(self, cases: list[Case], unconditional_rate: float = 0.0, seed: int = 0):
        self.cases = cases
        chooser = random.Random(f"unconditional-{seed}")
        self.unconditional = [chooser.random() < unconditional_rate for _ in cases]
        references, targets = [], []
        for case in cases:
            pictures, target, _ = render_case(case)
            slots = np.zeros((MAX_REFERENCES, *target.shape), dtype=np.uint8)
            slots[:len(pictures)] = np.stack(pictures)
            references.append(slots)
            targets.append(target)
        self.references = torch.from_numpy(np.stack(references)).permute(0, 1, 4, 2, 3).contiguous()
        self.targets = torch.from_numpy(np.stack(targets)).permute(0, 3, 1, 2).contiguous()
        self.reference_counts = torch.tensor([len(case.subjects) for case in cases])

    def __len__(self) -> int:
        return len(self.cases)

    def instruction(self, index: int) -> str:
        return EMPTY_INSTRUCTION if self.unconditional[index] else self.cases[index].instruction.text

    def reference_descriptions(self, index: int) -> list[str]:
        case = self.cases[index]
        return [describe([subject], [pose], ground) for subject, pose, ground
                in zip(case.subjects, case.reference_poses, case.reference_grounds)]

    def target_description(self, index: int) -> str:
        case = self.cases[index]
        return describe(list(case.subjects), list(case.target_poses), case.instruction.background)

    def groups(self) -> dict[int, torch.Tensor]:
        """Indices of the cases with each reference count: a batch holds one count, so its prompts line up."""
        return {int(count): torch.nonzero(self.reference_counts == count).flatten()
                for count in self.reference_counts.unique()}

    def region_groups(self) -> dict[tuple, torch.Tensor]:
        """Indices of the cases with each (reference count, instructed boxes): a batch binds one set of regions."""
        keys = [(len(case.subjects), instructed_boxes(case)) for case in self.cases]
        return {key: torch.tensor([row for row, other in enumerate(keys) if other == key])
                for key in dict.fromkeys(keys)}

    def detail_weights(self, scale: int, weight: float) -> torch.Tensor:
        """[N, S / scale, S / scale]: ``weight`` over each target subject's code area (where the mid and fine
        bits are), 1 elsewhere. The code area is a few percent of a picture, so without the weight its detail
        would be a negligible share of a reconstruction loss."""
        side = self.targets.shape[-1] // scale
        weights = torch.ones(len(self), side, side)
        for index, case in enumerate(self.cases):
            for pose in case.target_poses:
                top, left = ((origin + CODE_ORIGIN) // scale for origin in pose.origin)
                span = 2 * BLOCK // scale
                weights[index, top:top + span, left:left + span] = weight
        return weights
