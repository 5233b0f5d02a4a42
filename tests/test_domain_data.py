"""Pre-rendered domain samples: deterministic, split-pure, exact."""

from __future__ import annotations

import numpy as np

from squeeze_core.miniature.domain_data import DomainDataset, draw_samples
from squeeze_core.miniature.metrics import identity_kept, instruction_followed
from squeeze_core.miniature.subjects import split_subjects


def test_samples_are_deterministic_and_keep_to_their_split():
    train, held_out = split_subjects()
    first = draw_samples(300, "held_out", seed=4)
    assert first == draw_samples(300, "held_out", seed=4) != draw_samples(300, "held_out", seed=5)
    assert {sample.subject for sample in first} <= set(held_out)
    assert {sample.subject for sample in draw_samples(300, "train")} <= set(train)


def test_dataset_items_are_the_exact_scenes():
    samples = draw_samples(24, "train", seed=1)
    data = DomainDataset(samples)
    assert len(data) == 24
    item = data[5]
    assert item["reference"].shape == item["target"].shape == (3, 64, 64)
    assert item["text"] == samples[5].instruction.text
    target = item["target"].permute(1, 2, 0).numpy()
    assert all(instruction_followed(target, samples[5].instruction).values())
    assert all(identity_kept(target, samples[5].subject, samples[5].instruction).values())
    assert item["mask"].sum() > 0 and np.array_equal(item["mask"].numpy(), data.masks[5].numpy())
