"""Training cases in memory: pictures in their slots, batches of one reference count, the weights that make the
code areas count, the unconditional share, and the words the MLLM is taught (never the mid or fine bits)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from squeeze_core.miniature.case_data import EMPTY_INSTRUCTION, CaseData, draw_split
from squeeze_core.miniature.domain.cases import instructed_boxes, render_case
from squeeze_core.miniature.domain.subjects import split_subjects
from squeeze_core.miniature.loop import grouped_batch_indices
from squeeze_core.miniature.mllm_teaching import domain_corpus


def test_cases_keep_to_their_split_and_repeat():
    train, held_out = split_subjects()
    first = draw_split(200, "held_out", seed=4)
    assert first == draw_split(200, "held_out", seed=4) != draw_split(200, "held_out", seed=5)
    assert {subject for case in first for subject in case.subjects} <= set(held_out)
    assert {subject for case in draw_split(200, "train") for subject in case.subjects} <= set(train)


def test_pictures_fill_their_slots_and_empty_slots_stay_black():
    data = CaseData(draw_split(60, "train", seed=1))
    for index, case in enumerate(data.cases):
        references, target, _ = render_case(case)
        assert np.array_equal(data.targets[index].permute(1, 2, 0).numpy(), target)
        for slot, picture in enumerate(references):
            assert np.array_equal(data.references[index, slot].permute(1, 2, 0).numpy(), picture)
        assert int(data.reference_counts[index]) == len(references)
        assert not data.references[index, len(references):].any()


def test_batches_hold_one_reference_count():
    data = CaseData(draw_split(120, "train", seed=2))
    groups = data.groups()
    assert set(groups) == {1, 2}
    seen = set()
    for batch in itertools.islice(grouped_batch_indices(groups.values(), 8, seed=0, process=0), 60):
        counts = data.reference_counts[batch].unique()
        assert len(counts) == 1 and len(batch.unique()) == 8
        seen.add(int(counts[0]))
    assert seen == {1, 2}
    with pytest.raises(ValueError, match="no group holds a batch of 500"):
        next(grouped_batch_indices(groups.values(), 500, seed=0, process=0))


def test_detail_weights_cover_each_target_code_area():
    data = CaseData(draw_split(40, "train", seed=3))
    weights = data.detail_weights(8, 5.0)
    for index, case in enumerate(data.cases):
        assert int((weights[index] == 5.0).sum()) == 4 * len(case.target_poses)
        for pose in case.target_poses:
            top, left = pose.origin
            assert weights[index, top // 8 + 1, left // 8 + 1] == 5.0


def test_unconditional_share_and_its_empty_instruction():
    data = CaseData(draw_split(2000, "train", seed=4), unconditional_rate=0.1, seed=0)
    share = np.mean(data.unconditional)
    assert 0.08 < share < 0.12
    index = data.unconditional.index(True)
    assert data.instruction(index) == EMPTY_INSTRUCTION
    other = data.unconditional.index(False)
    assert data.instruction(other) == data.cases[other].instruction.text


def test_taught_words_name_the_coarse_grain_only():
    data = CaseData(draw_split(30, "train", seed=5))
    words = " ".join(domain_corpus()) + " ".join(data.target_description(i) for i in range(len(data)))
    for index, case in enumerate(data.cases):
        description = data.target_description(index)
        for subject in case.subjects:
            assert subject.description in description
    assert "stripe" not in words and "light" not in words and "dark" not in words.replace("dark background", "")


def test_instructed_boxes_hold_each_subject_where_its_instruction_puts_it():
    data = CaseData(draw_split(80, "held_out", seed=2))
    pairs = 0
    for case in data.cases:
        boxes = instructed_boxes(case)
        if case.instruction.kind != "pair":
            assert boxes is None
            continue
        pairs += 1
        _, _, masks = render_case(case)
        for mask, (left, top, right, bottom) in zip(masks, boxes):
            rows, columns = np.nonzero(mask)
            side = mask.shape[0]
            assert rows.min() >= top * side and rows.max() < bottom * side
            assert columns.min() >= left * side and columns.max() < right * side
    assert pairs > 5
    groups = data.region_groups()
    assert sorted(int(row) for rows in groups.values() for row in rows) == list(range(len(data)))
    assert all(instructed_boxes(data.cases[int(row)]) == boxes for (_, boxes), rows in groups.items() for row in rows)


def test_latents_fill_the_slots_the_cases_use():
    """A set of one-picture cases (no second slot anywhere) encodes, its second slots zero; a two-picture case's
    second slot is its second picture's latent."""
    import torch

    from squeeze_core.identity import diffusers_vae_encoder
    from squeeze_core.miniature.training_cache import encode_latents
    from squeeze_core.tiny_vae import build_tiny_vae

    vae = build_tiny_vae(seed=1).eval()
    cases = draw_split(40, "held_out", seed=6)
    single = CaseData([case for case in cases if len(case.subjects) == 1][:3])
    latents = encode_latents(vae, single)
    assert latents.references.shape[:2] == (3, 2) and not latents.references[:, 1].any()
    pair = CaseData([next(case for case in cases if len(case.subjects) == 2)])
    with torch.no_grad():
        second = diffusers_vae_encoder(vae)(pair.references[:, 1].float() / 255.0)[:, :, 0]
    assert torch.allclose(encode_latents(vae, pair).references[:, 1], second)
