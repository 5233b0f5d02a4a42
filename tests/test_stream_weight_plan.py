"""The one weighting rule as a per-step plan, and the key bias folded into the queries and keys (no server)."""

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from squeeze_core.key_bias_fold import fold_key_bias, folded_head_dim, unfold_output
from squeeze_core.schedule import StageWeights
from squeeze_core.stream_weights import key_bias_pieces, log_weight, plan_step

weight = st.floats(min_value=0.0, max_value=2.0, allow_nan=False)


def test_all_ones_is_the_stock_call():
    plan = plan_step(StageWeights(1.0, (1.0, 1.0)), 2)
    assert plan.untouched and not plan.biased and plan.kept_references == (0, 1)


def test_zero_drops_one_keeps_and_others_weight():
    plan = plan_step(StageWeights(0.0, (1.0, 0.0, 0.5)), 3)
    assert plan.drop_image_tokens and plan.image_log_weight == 0.0
    assert plan.kept_references == (0, 2)
    assert plan.reference_log_weights == (0.0, math.log(0.5))
    assert plan.biased and not plan.untouched
    faded = plan_step(StageWeights(0.25, ()), 0)
    assert not faded.drop_image_tokens and faded.image_log_weight == math.log(0.25) and faded.biased


@settings(max_examples=200, deadline=None)
@given(weight, st.lists(weight, max_size=4))
def test_plan_follows_the_rule_for_any_weights(semantic, identity):
    plan = plan_step(StageWeights(semantic, tuple(identity)), len(identity))
    assert plan.drop_image_tokens == (semantic == 0.0)
    assert plan.kept_references == tuple(k for k, w in enumerate(identity) if w > 0.0)
    for k, value in zip(plan.kept_references, plan.reference_log_weights):
        assert math.isfinite(value) and math.isclose(math.exp(value), identity[k], rel_tol=1e-12)
    assert plan.untouched == (semantic == 1.0 and all(w == 1.0 for w in identity))


@pytest.mark.parametrize("bad", [math.nan, math.inf, -0.5])
def test_a_weight_that_is_not_a_finite_non_negative_number_is_refused(bad):
    with pytest.raises(ValueError, match="finite number"):
        log_weight(bad)
    with pytest.raises(ValueError, match="finite number"):
        plan_step(StageWeights(bad, ()), 0)


def test_too_few_identity_weights_are_refused():
    with pytest.raises(ValueError, match="2 references but identity weights for 1"):
        plan_step(StageWeights(1.0, (1.0,)), 2)


def test_bias_pieces_follow_the_joint_sequence():
    context = torch.zeros(2, 5, 8)
    text = torch.tensor([[0.0, -1.0, -1.0, 0.0, 0.0]]).expand(2, 5)
    references = torch.tensor([[0.5, -0.25]]).expand(2, 2)
    pieces = key_bias_pieces(text, 6, references, [3, 4], context)
    assert [piece.shape for piece in pieces] == [(2, 5), (2, 6), (2, 3), (2, 4)]
    joined = torch.cat(pieces, dim=1)
    assert torch.equal(joined[0], torch.tensor([0, -1, -1, 0, 0] + [0] * 6 + [0.5] * 3 + [-0.25] * 4))
    unweighted = key_bias_pieces(None, 6, None, [3], context)
    assert torch.equal(torch.cat(unweighted, dim=1), torch.zeros(2, 14))


@pytest.mark.parametrize("head_dim", [16, 24, 64, 128])
def test_folded_head_dim_has_room_and_suits_fast_kernels(head_dim):
    on_gpu = folded_head_dim(head_dim, "cuda")
    assert on_gpu > head_dim and on_gpu % 8 == 0 and on_gpu - head_dim <= 8
    assert folded_head_dim(head_dim, "cpu") == head_dim + 1


def _bias(keys: int) -> torch.Tensor:
    """Semantic-stream and two-reference log weights over a joint sequence of ``keys`` keys."""
    bias = torch.zeros(2, keys)
    bias[:, 3:9] = math.log(0.3)
    bias[:, keys // 2:keys // 2 + 10] = math.log(0.6)
    bias[:, -10:] = math.log(1.7)
    return bias


@pytest.mark.parametrize("dtype,tolerance", [(torch.float32, 2e-6), (torch.bfloat16, 1e-2)])
@pytest.mark.parametrize("head_dim", [16, 128])
def test_fold_equals_the_masked_softmax(dtype, tolerance, head_dim):
    generator = torch.Generator().manual_seed(head_dim)
    q, k, v = (torch.randn(2, 3, 40, head_dim, generator=generator) for _ in range(3))
    q, k, v = (tensor.to(dtype) for tensor in (q, k, v))
    bias = _bias(40)
    reference = F.scaled_dot_product_attention(q.double(), k.double(), v.double(),
                                               attn_mask=bias.double()[:, None, None])
    masked = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.to(dtype)[:, None, None])
    folded_q, folded_k, folded_v = fold_key_bias(q, k, v, bias[:, None, :])
    assert folded_q.shape[-1] == folded_head_dim(head_dim, "cpu") and folded_q.dtype == dtype
    folded = unfold_output(F.scaled_dot_product_attention(folded_q, folded_k, folded_v), head_dim)
    fold_error = (folded.double() - reference).abs().max().item()
    mask_error = (masked.double() - reference).abs().max().item()
    assert fold_error <= tolerance, (fold_error, mask_error)
    assert (folded.double() - masked.double()).abs().max().item() <= 2 * tolerance
    unbiased = unfold_output(F.scaled_dot_product_attention(*fold_key_bias(q, k, v, torch.zeros(2, 1, 40))), head_dim)
    assert (unbiased.double() - F.scaled_dot_product_attention(q, k, v).double()).abs().max().item() <= 2 * tolerance
