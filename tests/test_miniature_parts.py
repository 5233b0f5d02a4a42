"""The miniature's building blocks, each against an independent reference: VAE files and latent
calibration, the key-weighted attention against diffusers' own, step conditioning, intervals, the MLLM's view of
where things are in a picture."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from squeeze_core.denoiser import build_transformer, predict_velocity
from squeeze_core.miniature.case_data import CaseData, draw_split
from squeeze_core.miniature.spec import MiniatureSpec
from squeeze_core.tiny_models import build_tiny_mllm_parts
from squeeze_core.features import TokenRole
from squeeze_core.latent_packing import pack_latents, token_grid, unpack_latents
from squeeze_core.intervals import proportion
from squeeze_core.miniature.loop import WeightAverage
from squeeze_core.miniature.patch_basis import PatchBasis
from squeeze_core.miniature.domain.scoring import score_case
from squeeze_core.tiny_vae import VAESizes
from squeeze_core.miniature.vae_training import (
    build_vae, calibrate_latents, refine_decoder, to_vae_pixels,
)
from tests.harness.tiny_parts import TINY_DIFFUSION
from squeeze_core.schedule import StageWeights
from squeeze_core.side_by_side import side_by_side
from squeeze_core.stage_conditioning import weighted_conditioning
from squeeze_core.files import load_vae, save_vae
from squeeze_core.images import from_vae_range

CONFIG = TINY_DIFFUSION


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return CaseData(draw_split(24, "train", 3)).targets


def test_calibration_gives_the_target_statistics_and_keeps_the_reconstruction(images, tmp_path):
    vae = build_vae(VAESizes(), seed=0).eval()
    pixels = to_vae_pixels(images)
    scales = torch.linspace(2.0, 0.25, vae.config.z_dim)
    with torch.no_grad():
        before = vae.decode(vae.encode(pixels).latent_dist.mode()).sample
        calibrate_latents(vae, images, scales)
        latents = vae.encode(pixels).latent_dist.mode()
        after = vae.decode(latents).sample
    channels = latents.transpose(0, 1).flatten(1)
    assert torch.allclose(channels.mean(1), torch.tensor(vae.config.latents_mean), atol=1e-3)
    assert torch.allclose(channels.std(1), torch.tensor(vae.config.latents_std) * scales, rtol=1e-3)
    assert (before - after).abs().max() < 1e-4
    save_vae(vae, tmp_path / "vae.safetensors")
    again = load_vae(tmp_path / "vae.safetensors")
    with torch.no_grad():
        assert torch.equal(again.encode(pixels).latent_dist.mode(), latents)


def test_a_full_patch_basis_round_trips_and_gives_unit_latents(images):
    pixels = to_vae_pixels(images)
    basis = PatchBasis.fit(pixels, channels=3 * 8 * 8)
    latents = basis.latents(pixels)
    assert latents.shape == (len(images), 192, 1, 8, 8)
    channels = latents.transpose(0, 1).flatten(1)
    assert channels[:16].mean(1).abs().max() < 1e-3 and (channels[:16].std(1, correction=0) - 1).abs().max() < 1e-3
    assert (basis.pixels(latents) - pixels).abs().max() < 1e-3


def test_channel_scales_run_from_whitened_to_pixel_true(images):
    basis = PatchBasis.fit(to_vae_pixels(images), channels=16)
    assert torch.allclose(basis.channel_scales(0.0), torch.ones(16))
    pixel_true = basis.channel_scales(1.0)
    assert torch.allclose(pixel_true.square().mean(), torch.tensor(1.0))
    assert torch.all(pixel_true[:-1] >= pixel_true[1:]) and pixel_true[0] > 2 * pixel_true[-1]
    assert torch.allclose(basis.channel_scales(0.5), pixel_true.sqrt())


def test_the_miniatures_patch_basis_keeps_every_fine_bit():
    """What lets the VAE start from it: 16 components (the VAE's latent channels) carry the fine detail of
    held-out subjects; 4 components do not (the test can fail)."""
    basis_pixels = to_vae_pixels(CaseData(draw_split(400, "train", 1)).targets)
    cases = draw_split(60, "held_out", 1)
    held_out = to_vae_pixels(CaseData(cases).targets)

    def fine(channels: int) -> float:
        basis = PatchBasis.fit(basis_pixels, channels)
        pictures = from_vae_range(basis.pixels(basis.latents(held_out))[:, :, 0])
        return float(np.mean([score_case(picture, case)["fine"] for picture, case in zip(pictures, cases)]))

    assert fine(16) > 0.99 and fine(4) < 0.7


def test_packing_round_trips():
    latents = torch.randn(2, 16, 8, 6)
    tokens = pack_latents(latents)
    assert tokens.shape == (2, 12, 64) and token_grid(8, 6) == (1, 4, 3)
    assert torch.equal(unpack_latents(tokens, 8, 6), latents)


def _inputs(batch: int = 2):
    generator = torch.Generator().manual_seed(0)
    context = torch.randn(batch, 10, 32, generator=generator)
    roles = torch.full((batch, 10), int(TokenRole.TEXT))
    roles[:, 2:6] = TokenRole.IMAGE
    mask = torch.ones(batch, 10, dtype=torch.long)
    noisy = torch.randn(batch, 16, 64, generator=generator)
    reference = torch.randn(batch, 16, 64, generator=generator)
    return context, mask, roles, noisy, reference


def test_key_weighted_attention_equals_diffusers_own_without_a_bias():
    from diffusers import QwenImageTransformer2DModel

    ours = build_transformer(CONFIG, seed=0).eval()
    stock = QwenImageTransformer2DModel(**CONFIG.model_kwargs()).eval()
    stock.load_state_dict(ours.state_dict())
    context, mask, roles, noisy, reference = _inputs()
    grid = (1, 4, 4)
    step = weighted_conditioning(context, mask, roles, [reference], [grid], StageWeights(1.0, (1.0,)), grid)
    assert step.attention_bias is None
    with torch.no_grad():
        mine = predict_velocity(ours, noisy, step, torch.tensor([0.7, 0.3]), grid)
        theirs = stock(hidden_states=torch.cat([noisy, reference], 1), encoder_hidden_states=context,
                       encoder_hidden_states_mask=mask, timestep=torch.tensor([0.7, 0.3]),
                       img_shapes=[[grid, grid]] * 2, return_dict=False)[0][:, :16]
    assert (mine - theirs).abs().max() < 1e-5


def test_weights_drop_bias_and_restore_the_streams():
    context, mask, roles, noisy, reference = _inputs()
    grid = (1, 4, 4)
    dropped = weighted_conditioning(context, mask, roles, [reference], [grid], StageWeights(0.0, (0.0,)), grid)
    assert dropped.context.shape[1] == 6 and dropped.references == [] and dropped.attention_bias is None
    assert torch.equal(dropped.context, torch.cat([context[:, :2], context[:, 6:]], 1))
    weighted = weighted_conditioning(context, mask, roles, [reference], [grid], StageWeights(0.5, (0.25,)), grid)
    bias = weighted.attention_bias.key[0]
    assert bias.shape == (10 + 16 + 16,)
    assert torch.allclose(bias[2:6], torch.full((4,), math.log(0.5)))
    assert torch.equal(bias[:2], torch.zeros(2)) and torch.equal(bias[10:26], torch.zeros(16))
    assert torch.allclose(bias[26:], torch.full((16,), math.log(0.25)))
    model = build_transformer(CONFIG, seed=0).eval()
    sigma = torch.tensor([0.5, 0.5])
    with torch.no_grad():
        outputs = [predict_velocity(model, noisy, weighted_conditioning(context, mask, roles, [reference], [grid],
                                                                        StageWeights(1.0, (w,)), grid), sigma, grid)
                   for w in (0.0, 0.5, 1.0)]
    low, middle, high = outputs
    assert (low - high).abs().max() > 1e-3
    assert (middle - low).abs().max() > 1e-4 and (middle - high).abs().max() > 1e-4


def test_wilson_interval():
    interval = proportion(90, 100)
    assert interval.low < 0.9 < interval.high and interval.high < 1.0
    assert math.isclose(interval.low, 0.8256, abs_tol=1e-3) and math.isclose(interval.high, 0.9448, abs_tol=1e-3)
    assert math.isclose(proportion(0, 50).low, 0.0, abs_tol=1e-12) and math.isclose(proportion(50, 50).high, 1.0)


def test_side_by_side_shows_reference_and_result():
    reference = np.zeros((64, 64, 3), dtype=np.uint8)
    result = np.full((64, 64, 3), 255, dtype=np.uint8)
    sheet = side_by_side([reference], result, "put it small in the top left on a sand background", side=128)
    assert sheet.dtype == np.uint8 and sheet.shape[1] > 2 * 128 and sheet.shape[0] > 128
    assert (sheet == 255).all(axis=-1).sum() >= 128 * 128


def test_weight_average_follows_the_warmed_up_decay_and_replaces_the_weights():
    parameter = torch.nn.Parameter(torch.zeros(3))
    average = WeightAverage([parameter], decay=0.5)
    expected = torch.zeros(3)
    for step, value in enumerate((4.0, 8.0, 2.0)):
        with torch.no_grad():
            parameter.fill_(value)
        average.update(step)
        decay = min(0.5, (1 + step) / (10 + step))
        expected = decay * expected + (1 - decay) * value
    average.apply()
    torch.testing.assert_close(parameter.detach(), expected, rtol=0, atol=1e-6)
    assert not torch.equal(parameter.detach(), torch.full((3,), 2.0))


def test_decoder_refinement_keeps_the_latents_and_trains_the_decoder(images):
    from accelerate import Accelerator

    vae = calibrate_latents(build_vae(VAESizes(), seed=0).eval(), images)
    pixels = to_vae_pixels(images[:4])
    with torch.no_grad():
        latents = vae.encode(pixels).latent_dist.mean
    decoder = [p.detach().clone() for p in vae.decoder.parameters()]
    refined = refine_decoder(Accelerator(cpu=True), vae, images, steps=2, batch=4)
    with torch.no_grad():
        torch.testing.assert_close(refined.encode(pixels).latent_dist.mean, latents, rtol=0, atol=0)
    assert any(not torch.equal(a, b.detach()) for a, b in zip(decoder, refined.decoder.parameters()))
    assert not any(p.requires_grad for p in refined.parameters())


def _rotary_turn(spec, axis: int) -> float:
    """The largest rotary angle change between image tokens 0 and 3 along one axis (1 height, 2 width) of the
    multimodal positions, as the language model applies them."""
    model, _ = build_tiny_mllm_parts(spec)
    rotary = model.model.language_model.rotary_emb
    probe = torch.zeros(1, 1, spec.hidden_size)

    def angles(position: list[int]) -> torch.Tensor:
        cos, sin = rotary(probe, torch.tensor(position).view(3, 1, 1))
        return torch.atan2(sin, cos)

    moved = [0, 0, 0]
    moved[axis] = 3
    return (angles(moved) - angles([0, 0, 0])).abs().max().item()


@pytest.mark.parametrize("axis", [1, 2], ids=["height", "width"])
def test_the_miniature_mllm_can_tell_rows_and_columns_apart(axis):
    """Across the 4 x 4 image tokens each axis turns the rotary angles by at least half a radian; the Qwen2.5-VL
    the three-grain runs first used (same size, base 1e6) turned width by under 1e-4 radian, and its taught MLLM
    named the column at chance (issue 13)."""
    spec = MiniatureSpec().mllm
    assert _rotary_turn(spec, axis) > 0.5
    if axis == 2:
        assert _rotary_turn(dataclasses.replace(spec, family="qwen2_5_vl", rope_theta=None), axis) < 1e-3
