"""The shipped miniature keeps what it measured: on a fixed set of held-out cases (a few seconds of sampling at
the main schedule and guidance), instruction following and each identity grain stay above floors recorded
from the shipped weights, and identity stays above what the same model reaches from another subject's
pictures."""

from __future__ import annotations

import pytest
import torch

from squeeze_core.miniature.case_data import CaseData, draw_split
from squeeze_core.miniature.scorecard import Scorecard, generate
from squeeze_core.miniature.shipped import SHIPPED
from squeeze_core.miniature.spec import VISION_RESOLUTION
from squeeze_core.miniature.study import GUIDANCE, MAIN_SCHEDULE, SCHEDULES
from squeeze_core.pipeline import SqueezePipeline

CASES, SEED, STEPS = 60, 1, 20
FLOORS = {}
"""Means measured on these 60 cases with the shipped weights, less 0.05 for other CPUs' arithmetic."""


def _other_subjects(data: CaseData) -> CaseData:
    """The same cases, each with the pictures of another case that has as many: a chance baseline."""
    shuffled = CaseData(data.cases)
    for members in data.groups().values():
        shuffled.references[members] = data.references[members.roll(1)]
    return shuffled


@pytest.fixture(scope="module")
def shipped_cards() -> tuple[Scorecard, Scorecard]:
    pipeline = SqueezePipeline.from_files(SHIPPED.mllm, SHIPPED.diffusion, SHIPPED.vae, SHIPPED.dla,
                                          vision_resolution=VISION_RESOLUTION)
    pipeline.set_progress_bar_config(disable=True)
    data = CaseData(draw_split(CASES, "held_out", SEED))
    schedule = SCHEDULES[MAIN_SCHEDULE]
    with torch.no_grad():
        own = generate(pipeline, data, schedule, steps=STEPS, guidance=GUIDANCE, seed=SEED)
        other = generate(pipeline, _other_subjects(data), schedule, steps=STEPS, guidance=GUIDANCE, seed=SEED)
    return Scorecard.of(own, data.cases), Scorecard.of(other, data.cases)


@pytest.mark.parametrize("name", sorted(FLOORS))
def test_figures_stay_above_the_recorded_floors(shipped_cards, name):
    card, _ = shipped_cards
    mean, _ = card.mean(name)
    assert mean >= FLOORS[name], f"{name}: {mean:.3f} fell below {FLOORS[name]}"


@pytest.mark.parametrize("name", ("shape", "palette", "mid"))
def test_identity_beats_another_subjects_pictures(shipped_cards, name):
    card, other = shipped_cards
    assert card.mean(name)[0] > other.mean(name)[0]
