"""The case the example workflows show: two subjects the shipped miniature never saw in training, each from its
own picture (at another place, turn and ground), composed into one scene. Its pictures are what the README's
main command loads; its instruction is the workflow's prompt."""

from __future__ import annotations

import numpy as np

from .domain.cases import Case, render_case
from .domain.scenes import Instruction, Pose, target_poses
from .domain.subjects import split_subjects

EXAMPLE_SUBJECTS = (362, 919)
"""Indices into the held-out subjects: a cyan and blue corner and a red and purple notch (fine codes no training
subject carries)."""
EXAMPLE_PICTURES = ("squeeze_miniature_subject_1.png", "squeeze_miniature_subject_2.png")
"""The pictures' file names in ComfyUI's input folder, as the example workflows load them."""
EXAMPLE_SCHEDULE = "paper .95/.85, late semantic 0.5"
"""The study's schedule (``study.SCHEDULES``) that the example workflows run, at the study's guidance: of the
paper's three-phase schedules it followed the most instructions and kept the most fine bits (README)."""


def example_case() -> Case:
    held_out = split_subjects()[1]
    references = (Pose("bottom centre", 3), Pose("bottom east", 1))
    instruction = Instruction("pair", "sky", "top east and bottom west")
    return Case(tuple(held_out[index] for index in EXAMPLE_SUBJECTS), references, ("white", "grey"), instruction,
                tuple(target_poses(instruction, references[0], 0)))


def example_pictures() -> list[np.ndarray]:
    """The case's reference pictures, uint8 [64, 64, 3] each."""
    return render_case(example_case())[0]
