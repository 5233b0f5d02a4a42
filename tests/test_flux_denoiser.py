"""FLUX.1 transformers (diffusers' FluxTransformer2DModel) under the pack's key-weighted attention, at tiny size:
without a bias they compute what diffusers' own attention computes; padded text is masked in both block kinds;
a key bias of log 2 on a reference is that reference's keys counted twice; the references' ids follow ComfyUI's
FLUX.1 Kontext placement."""

from __future__ import annotations

import math

import pytest
import torch

from squeeze_core.denoiser import build_transformer, flux_image_ids, predict_velocity
from squeeze_core.key_bias_fold import AttentionBias
from squeeze_core.stage_conditioning import StepConditioning
from tests.harness.tiny_parts import TINY_FLUX

GRID = (1, 4, 4)


@pytest.fixture(scope="module")
def transformer() -> torch.nn.Module:
    model = build_transformer(TINY_FLUX, seed=0).eval()
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(torch.randn(parameter.shape, generator=generator) * 0.05)
    return model


def _tokens(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def _condition(context: torch.Tensor, mask: torch.Tensor, references: list[torch.Tensor],
               bias: AttentionBias | None = None) -> StepConditioning:
    return StepConditioning(context, mask, references, [GRID] * len(references), bias)


def test_without_a_bias_it_is_diffusers_own_attention(transformer):
    from diffusers import FluxTransformer2DModel
    from diffusers.models.transformers.transformer_flux import FluxAttnProcessor

    stock = FluxTransformer2DModel(**TINY_FLUX.model_kwargs()).eval()
    stock.load_state_dict(transformer.state_dict())
    stock.set_attn_processor(FluxAttnProcessor())
    context, noisy = _tokens(2, 6, 32, seed=2), _tokens(2, 16, 64, seed=3)
    references = [_tokens(2, 16, 64, seed=4), _tokens(2, 16, 64, seed=5)]
    condition = _condition(context, torch.ones(2, 6, dtype=torch.bool), references)
    sigma = torch.tensor([0.7, 0.3])
    with torch.no_grad():
        ours = predict_velocity(transformer, noisy, condition, sigma, GRID)
        theirs = predict_velocity(stock, noisy, condition, sigma, GRID)
    assert ours.abs().max() > 0.1
    assert (ours - theirs).abs().max() < 1e-5


def test_padded_text_is_masked_in_double_and_single_blocks(transformer):
    """Text ids are all zero in FLUX, so a padded token masked out must give what leaving it out gives."""
    context, noisy, reference = _tokens(1, 8, 32, seed=6), _tokens(1, 16, 64, seed=7), _tokens(1, 16, 64, seed=8)
    mask = torch.tensor([[True] * 5 + [False] * 3])
    sigma = torch.tensor([0.5])
    with torch.no_grad():
        padded = predict_velocity(transformer, noisy, _condition(context, mask, [reference]), sigma, GRID)
        cut = predict_velocity(transformer, noisy, _condition(context[:, :5], mask[:, :5], [reference]), sigma, GRID)
        unmasked = predict_velocity(transformer, noisy, _condition(context, torch.ones_like(mask), [reference]),
                                    sigma, GRID)
    assert (padded - cut).abs().max() < 1e-5
    assert (unmasked - cut).abs().max() > 1e-3


def test_a_key_bias_of_log_two_counts_a_reference_twice(transformer):
    """The same reference tokens at the same ids, twice, are keys counted twice in every block; the target's
    velocity must equal one copy with log 2 on its keys."""
    context, noisy, reference = _tokens(1, 6, 32, seed=9), _tokens(1, 16, 64, seed=10), _tokens(1, 16, 64, seed=11)
    mask = torch.ones(1, 6, dtype=torch.bool)
    ids = flux_image_ids(GRID, [GRID], torch.device("cpu"))
    sigma = torch.tensor([0.6])
    key = torch.cat([torch.zeros(1, 6 + 16), torch.full((1, 16), math.log(2.0))], dim=1)

    def target_velocity(hidden: torch.Tensor, image_ids: torch.Tensor, bias: AttentionBias | None) -> torch.Tensor:
        extra = {} if bias is None else {"attention_bias": bias}
        return transformer(hidden_states=hidden, encoder_hidden_states=context,
                           pooled_projections=torch.zeros(1, TINY_FLUX.pooled_projection_dim), timestep=sigma,
                           img_ids=image_ids, txt_ids=torch.zeros(6, 3), guidance=torch.full((1,), 3.5),
                           joint_attention_kwargs={"text_mask": mask, **extra}, return_dict=False)[0][:, :16]

    with torch.no_grad():
        twice = target_velocity(torch.cat([noisy, reference, reference], 1), torch.cat([ids, ids[16:]]), None)
        weighted = target_velocity(torch.cat([noisy, reference], 1), ids, AttentionBias(key))
        once = target_velocity(torch.cat([noisy, reference], 1), ids, None)
    assert (twice - weighted).abs().max() < 1e-5
    assert (once - weighted).abs().max() > 1e-3


def test_reference_ids_follow_comfyui_kontext_placement():
    """Index 0 for the target, 1 for references; each reference beside the ones before it, on the side that keeps
    the placed area squarer (ComfyUI's "offset" method): a 2x2, then a 2x3 below it, then a 4x1 to the right."""
    ids = flux_image_ids((1, 2, 2), [(1, 2, 2), (1, 2, 3), (1, 4, 1)], torch.device("cpu"))
    target, first, second, third = torch.split(ids, [4, 4, 6, 4])
    assert torch.equal(target[:, 0], torch.zeros(4)) and torch.equal(target[-1], torch.tensor([0.0, 1.0, 1.0]))
    assert torch.equal(first[0], torch.tensor([1.0, 0.0, 0.0])) and torch.equal(first[-1], torch.tensor([1.0, 1.0, 1.0]))
    assert torch.equal(second[0], torch.tensor([1.0, 2.0, 0.0])) and torch.equal(second[-1], torch.tensor([1.0, 3.0, 2.0]))
    assert torch.equal(third[0], torch.tensor([1.0, 0.0, 3.0])) and torch.equal(third[-1], torch.tensor([1.0, 3.0, 3.0]))
