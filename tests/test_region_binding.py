"""Regions turned into per-query log weights, the rank-R fold of a query-dependent bias, and the binding share a
schedule gives each step (no server)."""

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from squeeze_core.key_bias_fold import AttentionBias, fold_key_bias, folded_head_dim, unfold_output
from squeeze_core.region_binding import HARD_LOG_WEIGHT, Region, RegionError, query_log_weights
from squeeze_core.region_preview import render_regions
from squeeze_core.schedule import StageSchedule, StageWeights, schedule_from_preset
from squeeze_core.stream_weights import plan_step

fraction = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(fraction, fraction, fraction, fraction, st.integers(1, 9), st.integers(1, 9))
def test_box_coverage_is_the_exact_area_share_of_each_cell(a, b, c, d, rows, columns):
    left, right, top, bottom = min(a, b), max(a, b), min(c, d), max(c, d)
    if right - left < 1e-6 or bottom - top < 1e-6:
        return
    coverage = Region(box=(left, top, right, bottom)).coverage(rows, columns)
    assert coverage.shape == (rows, columns) and bool(((coverage >= 0) & (coverage <= 1)).all())
    assert math.isclose(coverage.double().mean().item(), (right - left) * (bottom - top), abs_tol=1e-5)


def test_a_mask_is_area_averaged_onto_the_grid():
    mask = torch.zeros(8, 8)
    mask[:, :3] = 1.0
    coverage = Region(mask=mask).coverage(2, 4)
    assert torch.allclose(coverage, torch.tensor([[1.0, 0.5, 0.0, 0.0]] * 2))


def test_weights_follow_one_minus_strength_times_the_uncovered_share():
    region = Region(box=(0.0, 0.0, 0.5, 1.0), strength=0.5)
    logs = query_log_weights(region, 0.5, (1, 2, 4))
    expected = torch.tensor([1.0, 1.0, 0.5, 0.5] * 2).log()
    assert torch.allclose(logs, expected)
    hard = query_log_weights(Region(box=(0.0, 0.0, 0.5, 1.0)), 1.0, (2, 1, 2))
    assert hard.tolist() == [0.0, HARD_LOG_WEIGHT] * 2


def test_a_binding_that_changes_nothing_is_none():
    assert query_log_weights(Region(box=(0.0, 0.0, 1.0, 1.0)), 1.0, (1, 4, 4)) is None
    assert query_log_weights(Region(mask=torch.ones(3, 5)), 1.0, (1, 4, 4)) is None
    assert query_log_weights(Region(box=(0.0, 0.0, 0.5, 0.5)), 0.0, (1, 4, 4)) is None


@pytest.mark.parametrize("kwargs, message", [
    ({}, "exactly one"),
    ({"box": (0.0, 0.0, 1.0, 1.0), "mask": torch.ones(2, 2)}, "exactly one"),
    ({"box": (0.5, 0.0, 0.5, 1.0)}, "left < right"),
    ({"box": (0.0, 0.0, 1.5, 1.0)}, "fractions"),
    ({"box": (0.0, math.nan, 1.0, 1.0)}, "fractions"),
    ({"mask": torch.ones(1, 2, 2)}, "one \\[height, width\\] plane"),
    ({"mask": torch.full((2, 2), 2.0)}, "0..1"),
    ({"box": (0.0, 0.0, 1.0, 1.0), "strength": 1.5}, "0 \\(off\\) to 1 \\(hard\\)"),
])
def test_bad_regions_are_refused_with_the_fix(kwargs, message):
    with pytest.raises(RegionError, match=message):
        Region(**kwargs)


def test_the_plan_scales_each_binding_by_the_schedule_share_and_drops_zeros():
    plan = plan_step(StageWeights(1.0, (1.0, 1.0, 1.0), binding=0.5), 3, [1.0, None, 0.0])
    assert plan.bindings == ((0, 0.5),) and not plan.untouched
    released = plan_step(StageWeights(1.0, (1.0, 1.0), binding=0.0), 2, [1.0, 1.0])
    assert released.bindings == () and released.untouched


def test_regions_release_where_the_schedule_says():
    schedule = schedule_from_preset("paper", switch_1=0.05, switch_2=0.15, release_regions_at=0.6)
    assert [schedule.weights(p).binding for p in (0.0, 0.59, 0.6, 0.9)] == [1.0, 1.0, 0.0, 0.0]
    assert StageSchedule().weights(0.99).binding == 1.0


def _biased_softmax(q, k, v, dense):
    logits = q.double() @ k.double().transpose(-1, -2) / math.sqrt(q.shape[-1]) + dense.double()
    return torch.softmax(logits, dim=-1) @ v.double()


@pytest.mark.parametrize("dtype, tolerance", [(torch.float32, 1e-5), (torch.bfloat16, 3e-2)])
def test_the_rank_r_fold_gives_the_dense_biased_softmax(dtype, tolerance):
    generator = torch.Generator().manual_seed(0)
    batch, heads, tokens, head_dim, rank = 2, 2, 24, 64, 3
    q, k, v = (torch.randn(batch, heads, tokens, head_dim, generator=generator).to(dtype) for _ in range(3))
    bias = AttentionBias(torch.randn(batch, tokens, generator=generator),
                         torch.rand(batch, tokens, rank, generator=generator) * HARD_LOG_WEIGHT,
                         (torch.rand(batch, tokens, rank, generator=generator) > 0.5).float())
    expected = _biased_softmax(q, k, v, bias.dense()[:, None])
    folded = fold_key_bias(q, k, v, bias.key[:, None], bias.query_factors[:, None], bias.key_factors[:, None])
    assert folded[0].shape[-1] == folded_head_dim(head_dim, "cpu", 1 + rank)
    out = unfold_output(F.scaled_dot_product_attention(*folded), head_dim)
    assert (out.double() - expected).abs().max().item() <= tolerance


def test_a_hard_bind_leaves_the_bound_keys_no_attention():
    generator = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(1, 1, 6, 32, generator=generator) for _ in range(3))
    query_factors = torch.tensor([0.0, 0.0, HARD_LOG_WEIGHT, 0.0, 0.0, 0.0]).reshape(1, 6, 1)
    key_factors = torch.tensor([0.0, 0.0, 0.0, 0.0, 1.0, 1.0]).reshape(1, 6, 1)
    dense = AttentionBias(torch.zeros(1, 6), query_factors, key_factors).dense()
    weights = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(32) + dense[:, None], dim=-1)
    assert weights[0, 0, 2, 4:].max().item() < 1e-12 and weights[0, 0, 3, 4:].min().item() > 1e-4


def test_the_preview_tints_each_region_in_its_colour():
    picture = render_regions([Region(box=(0.0, 0.0, 0.5, 1.0)), None, Region(box=(0.5, 0.0, 1.0, 1.0))],
                             (4, 4), (64, 48))
    assert picture.shape == (48, 64, 3) and picture.dtype.name == "uint8"
    left, right = picture[20, 10].astype(int), picture[20, 50].astype(int)
    assert left[0] > left[2] and right[1] > right[0]


def test_the_step_conditioning_binds_the_references_latents_and_its_pictures_tokens():
    from squeeze_core.features import TokenRole, image_role
    from squeeze_core.stage_conditioning import weighted_conditioning

    roles = torch.full((1, 6), int(TokenRole.TEXT))
    roles[0, 1:3], roles[0, 3:5] = image_role(0), image_role(1)
    context, mask = torch.zeros(1, 6, 8), torch.ones(1, 6, dtype=torch.long)
    references = [torch.zeros(1, 4, 8), torch.zeros(1, 2, 8)]
    grid = (1, 2, 2)
    hard_left = Region(box=(0.0, 0.0, 0.5, 1.0))
    step = weighted_conditioning(context, mask, roles, references, [(1, 2, 2), (1, 1, 2)], StageWeights(1.0, (1.0, 1.0)),
                                 grid, [hard_left, None])
    dense = step.attention_bias.dense()[0]
    outside = [6 + 1, 6 + 3]
    bound_keys = [1, 2] + list(range(10, 14))
    assert torch.equal(dense[outside][:, bound_keys], torch.full((2, 6), HARD_LOG_WEIGHT))
    dense[6 + 1, bound_keys] = dense[6 + 3, bound_keys] = 0.0
    assert torch.equal(dense, torch.zeros_like(dense))
    whole = weighted_conditioning(context, mask, roles, references, [(1, 2, 2), (1, 1, 2)],
                                  StageWeights(1.0, (1.0, 1.0)), grid, [Region(box=(0.0, 0.0, 1.0, 1.0)), None])
    assert whole.attention_bias is None
