"""The procedural metrics read exact scenes exactly, and notice each kind of mistake on its own."""

from __future__ import annotations

import random

import numpy as np
import pytest

from squeeze_core.miniature.metrics import copy_paste, identity_kept, instruction_followed
from squeeze_core.miniature.scenes import Instruction, render_reference, render_scene, sample_instruction
from squeeze_core.miniature.subjects import Subject, split_subjects


@pytest.fixture(scope="module")
def cases():
    rng = random.Random(3)
    _, held_out = split_subjects()
    return [(identity, sample_instruction(rng)) for identity in held_out[:120]]


def test_exact_scenes_read_as_followed_and_kept(cases):
    for identity, instruction in cases:
        image, _ = render_scene(identity, instruction)
        assert all(instruction_followed(image, instruction).values()), (identity, instruction)
        assert all(identity_kept(image, identity, instruction).values()), (identity, instruction)


def test_each_instruction_mistake_is_caught_alone():
    identity = Subject("square", "stripes", "red", "yellow")
    asked = Instruction("top left", "small", "sky")
    for wrong, failed in ((Instruction("bottom right", "small", "sky"), "position"),
                          (Instruction("top left", "large", "sky"), "scale"),
                          (Instruction("top left", "small", "sand"), "background"),
                          (Instruction("top", "small", "sky", count=2), "count")):
        image, _ = render_scene(identity, wrong)
        verdict = instruction_followed(image, asked)
        assert not verdict[failed], (wrong, verdict)
        assert verdict["background"] or failed == "background"


@pytest.mark.parametrize("changed, field", [
    (Subject("square", "stripes", "blue", "green"), "palette"),
    (Subject("disc", "stripes", "red", "yellow"), "shape"),
    (Subject("square", "checker", "red", "yellow"), "texture"),
])
def test_each_identity_mistake_is_caught_alone(changed, field):
    kept = Subject("square", "stripes", "red", "yellow")
    instruction = Instruction("centre", "large", "white")
    image, _ = render_scene(changed, instruction)
    verdict = identity_kept(image, kept, instruction)
    assert not verdict[field]
    assert all(value for name, value in verdict.items() if name != field), verdict


def test_noise_follows_nothing():
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    verdict = instruction_followed(noise, Instruction("centre", "small", "grey"))
    assert not all(verdict.values())


def test_copy_paste_is_one_for_the_reference_and_low_for_a_moved_subject():
    identity = Subject("triangle", "checker", "orange", "blue")
    reference, _ = render_reference(identity)
    assert copy_paste(reference, identity) == pytest.approx(1.0)
    moved, _ = render_scene(identity, Instruction("top left", "small", "dark"))
    assert copy_paste(moved, identity) < 0.2
