"""The procedural subject domain: identities, their split, sprites, instructions and exact scenes."""

from __future__ import annotations

import random

import numpy as np
import pytest

from squeeze_core.miniature.scenes import (
    BACKGROUNDS, REFERENCE_LAYOUT, Instruction, render_reference, render_scene, sample_instruction, subject_boxes,
)
from squeeze_core.miniature.subjects import HUES, SHAPES, TEXTURES, Subject, all_subjects, split_subjects, subject_sprite


def test_identities_split_into_disjoint_covering_train_and_held_out_sets():
    identities = all_subjects()
    assert len(identities) == len(SHAPES) * len(TEXTURES) * len(HUES) * (len(HUES) - 1)
    train, held_out = split_subjects()
    assert set(train).isdisjoint(held_out) and len(train) + len(held_out) == len(identities)
    assert len(held_out) >= 200
    assert split_subjects() == (train, held_out)
    assert {i.shape for i in held_out} == set(SHAPES) and {i.texture for i in held_out} == set(TEXTURES)
    assert {i.primary for i in held_out} == set(HUES)


@pytest.mark.parametrize("texture", TEXTURES)
def test_every_texture_shows_both_colours(texture):
    identity = Subject("square", texture, "red", "blue")
    pixels, mask = subject_sprite(identity, 40)
    colours = {tuple(p) for p in pixels[mask]}
    assert colours == {HUES["red"], HUES["blue"]}


def test_turning_is_visible_for_the_pointed_shapes():
    for shape in ("triangle", "cross"):
        _, upright = subject_sprite(Subject(shape, "solid", "red", "blue"), 40)
        _, turned = subject_sprite(Subject(shape, "solid", "red", "blue"), 40, quarter_turns=2)
        assert not np.array_equal(upright, turned)
        assert np.array_equal(turned, upright[::-1, ::-1])


@pytest.mark.parametrize("position", ["top left", "top right", "bottom left", "bottom right", "centre"])
def test_scene_places_the_subject_where_the_instruction_says(position):
    identity = Subject("disc", "stripes", "green", "orange")
    image, mask = render_scene(identity, Instruction(position, "small", "sky"), size=64)
    assert (image[~mask] == BACKGROUNDS["sky"]).all()
    rows, cols = np.nonzero(mask)
    expected = {"top": (0, 32), "bottom": (32, 64), "centre": (16, 48)}
    vertical, _, horizontal = position.partition(" ")
    low, high = expected[vertical]
    assert low <= rows.mean() < high
    if horizontal:
        low, high = (0, 32) if horizontal == "left" else (32, 64)
        assert low <= cols.mean() < high


def test_scale_and_count_change_the_subject_area_and_copies():
    identity = Subject("square", "checker", "purple", "yellow")
    small = render_scene(identity, Instruction("centre", "small"))[1].sum()
    large = render_scene(identity, Instruction("centre", "large"))[1].sum()
    assert large > 2 * small
    _, two = render_scene(identity, Instruction("middle", "small", count=2))
    assert two.sum() == 2 * small
    assert two[:, :32].sum() == two[:, 32:].sum() == small
    assert len(subject_boxes(Instruction("top", "small", count=2), 64)) == 2


def test_instruction_text_names_every_attribute_and_bad_combinations_are_refused():
    assert Instruction("top left", "small", "sky", 1).text == (
        "put it small in the top left on a sky background, turned right")
    assert Instruction("bottom", "small", "dark", 2, count=2).text == (
        "put two of them small along the bottom on a dark background, upside down")
    with pytest.raises(ValueError, match="two subjects are always small"):
        Instruction("top", "large", count=2)
    with pytest.raises(ValueError, match="position"):
        Instruction("top left", count=2)
    rng = random.Random(0)
    sampled = [sample_instruction(rng) for _ in range(200)]
    assert {i.count for i in sampled} == {1, 2} and {i.background for i in sampled} == set(BACKGROUNDS)


def test_reference_is_the_identity_large_centred_upright_on_grey():
    identity = Subject("triangle", "solid", "cyan", "magenta")
    image, mask = render_reference(identity)
    expected, expected_mask = render_scene(identity, REFERENCE_LAYOUT)
    assert np.array_equal(image, expected) and np.array_equal(mask, expected_mask)
    assert (image[~mask] == BACKGROUNDS["grey"]).all()
