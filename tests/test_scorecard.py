"""Scorecards pair: every case's noise is its own (the same in any batch and any setup), exact targets score
perfectly, and the per-case figures are defined exactly where the case kind defines them."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from squeeze_core.miniature.case_data import CaseData, draw_split
from squeeze_core.miniature.domain.cases import render_case
from squeeze_core.miniature.domain.scenes import COLUMNS
from squeeze_core.miniature.domain.scoring import score_case
from squeeze_core.miniature.domain.subjects import SHAPES
from squeeze_core.miniature.scorecard import BINARY, FIGURES, Scorecard, case_noise, generate
from squeeze_core.schedule import StageSchedule
from tests.harness.tiny_parts import tiny_squeeze_pipeline


def test_exact_targets_score_perfectly_and_figures_follow_the_kinds():
    data = CaseData(draw_split(80, "held_out", seed=2))
    card = Scorecard.of(data.targets.permute(0, 2, 3, 1).numpy(), data.cases)
    for name in ("instruction", "orientation", "shape", "palette", "mid", "fine"):
        assert card.mean(name) == (1.0, 80)
    kinds = np.array([case.instruction.kind for case in data.cases])
    assert set(kinds[~np.isnan(card.figures["leak"])]) == {"pair"}
    assert set(kinds[~np.isnan(card.figures["open_distance"])]) == {"open"}
    assert card.mean("copy")[0] == 0.0 and set(FIGURES) == set(card.figures)
    one_subject = int((kinds != "pair").sum())
    assert card.mean("row") == card.mean("column") == (1.0, one_subject)
    assert set(kinds[np.isnan(card.figures["column"])]) == {"pair"}


def test_row_and_column_are_read_apart():
    """A subject drawn in the instructed row but another column scores the row and not the column."""
    case = next(case for case in draw_split(60, "held_out", seed=3) if case.instruction.kind == "place")
    row, column = case.target_poses[0].position.split(" ")
    moved = replace(case, target_poses=(replace(case.target_poses[0], position=f"{row} {_other(COLUMNS, column)}"),))
    scores = score_case(render_case(moved)[1], case)
    assert scores["row"] == 1.0 and scores["column"] == 0.0 and scores["instruction"] == 0.0


def test_figures_compared_by_mcnemar_are_zero_or_one():
    """A two-subject result with one subject's shape wrong scores shape 0.5: a graded figure, not a McNemar one."""
    case = next(case for case in draw_split(60, "held_out", seed=4) if case.instruction.kind == "pair")
    first, second = case.subjects
    reshaped = replace(second, shape=_other(SHAPES, second.shape))
    scores = score_case(render_case(replace(case, subjects=(first, reshaped)))[1], case)
    assert scores["shape"] == 0.5 and "shape" not in BINARY
    data = CaseData(draw_split(40, "held_out", seed=4))
    cards = Scorecard.of(data.targets.permute(0, 2, 3, 1).numpy()[::-1], data.cases)
    for name in BINARY:
        values = cards.figures[name][~np.isnan(cards.figures[name])]
        assert set(values.tolist()) <= {0.0, 1.0}, name


def _other(names, name: str) -> str:
    return next(other for other in names if other != name)


def test_case_noise_depends_on_the_case_alone():
    assert torch.equal(case_noise(5, (2, 3), 7)[3], case_noise(9, (2, 3), 7)[3])
    assert not torch.equal(case_noise(5, (2, 3), 7)[3], case_noise(5, (2, 3), 8)[3])


@pytest.mark.parametrize("guidance", [1.0, 2.5])
def test_batching_does_not_change_a_case(tmp_path, guidance):
    pipeline = tiny_squeeze_pipeline(tmp_path / "mllm", vision_resolution=16)
    data = CaseData(draw_split(7, "held_out", seed=3))
    assert set(data.groups()) == {1, 2}
    together = generate(pipeline, data, StageSchedule.paper(), steps=2, guidance=guidance, batch=7)
    alone = generate(pipeline, data, StageSchedule.paper(), steps=2, guidance=guidance, batch=1)
    assert np.abs(together.astype(int) - alone.astype(int)).max() <= 1


def test_study_compares_on_the_cases_both_define_and_tabulates_every_figure():
    from squeeze_core.miniature.study import (SCHEDULES, claims, compare, schedule_setups, study_setups, table,
                                              trained_setups)

    data = CaseData(draw_split(60, "held_out", seed=4))
    exact = Scorecard.of(data.targets.permute(0, 2, 3, 1).numpy(), data.cases)
    blank = Scorecard.of(np.zeros((60, 64, 64, 3), dtype=np.uint8), data.cases)
    instruction = compare(exact, blank, "instruction")
    assert instruction.difference == 1.0 and instruction.p_value < 1e-6 and instruction.cases == 60
    leak = compare(exact, exact, "leak")
    assert leak.cases == int((~np.isnan(exact.figures["leak"])).sum()) < 60 and leak.difference == 0.0
    nothing = compare(exact, blank, "leak")
    assert nothing.cases == 0 and np.isnan(nothing.p_value)
    markdown = table({"exact": exact, "blank": blank}).splitlines()
    assert len(markdown) == 4 and all(line.count("|") == len(FIGURES) + 2 for line in markdown)
    assert {setup.run for setup in trained_setups(3)} >= {"full-seed2", "no_vae_identity-seed2", "text_only-seed0"}
    assert {setup.schedule for setup in schedule_setups()} == set(SCHEDULES)
    setups = study_setups(3)
    assert len({setup.name for setup in setups}) == len(setups)
    named = {setup.name for setup in setups}
    assert all(set(claim.a + claim.b) <= named for claim in claims(3)), "every claim's rows are sampled"
    pooled = [claim for claim in claims(3) if claim.name.endswith("pooled")]
    assert {claim.name.split(",")[0] for claim in pooled} == {"(b) VAE identity", "(c) staged against always",
                                                               "(c) a longer MLLM-only phase"}
    assert all(len(claim.a) == len(claim.b) == 3 for claim in pooled)
    both = compare(Scorecard.pooled([exact, exact]), Scorecard.pooled([blank, blank]), "instruction")
    assert both.cases == 120 and both.difference == 1.0
    staged = {setup.run for setup in setups if setup.schedule == "always"}
    assert staged == {"full-seed0", "full-seed1", "full-seed2"}, "(c) is decided at every seed"
