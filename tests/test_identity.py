"""Identity encoding through real diffusers VAEs (tiny configs) and through any encode callable."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from squeeze_core.errors import InvalidImageError
from squeeze_core.tiny_vae import build_tiny_vae
from squeeze_core.identity import diffusers_vae_encoder, encode_identity, prepare_reference_pixels
from squeeze_core.images import size_for_area


@pytest.fixture(scope="module")
def qwen_vae():
    return build_tiny_vae().eval()


@pytest.fixture(scope="module")
def kl_vae():
    from diffusers import AutoencoderKL

    torch.manual_seed(0)
    return AutoencoderKL(
        block_out_channels=[8, 8, 8, 8], down_block_types=["DownEncoderBlock2D"] * 4,
        up_block_types=["UpDecoderBlock2D"] * 4, latent_channels=4, norm_num_groups=4, layers_per_block=1,
        shift_factor=0.1, scaling_factor=0.5,
    ).eval()


REFERENCES = {
    "rgba": (Image.new("RGBA", (640, 480), (255, 0, 0, 0)), (1, 480, 640)),
    "grayscale": (Image.new("L", (300, 500), 77), (1, 500, 300)),
    "one_pixel": (torch.rand(1, 1, 1, 3), (1, 1, 1)),
    "extreme": (np.zeros((50, 4000, 3), dtype=np.uint8), (1, 50, 4000)),
    "batch_of_three": (torch.rand(3, 96, 64, 3), (3, 96, 64)),
}


@pytest.mark.parametrize("name", list(REFERENCES))
def test_qwen_vae_latents_have_the_expected_shapes(qwen_vae, name):
    image, (batch, original_height, original_width) = REFERENCES[name]
    budget = 1024 * 1024
    height, width = size_for_area(original_height, original_width, budget, 8)
    [latent] = encode_identity([image], qwen_vae, pixel_budget=budget)
    assert tuple(latent.shape) == (batch, 16, 1, height // 8, width // 8)
    assert torch.isfinite(latent).all()


def test_kl_vae_and_normalisation(kl_vae):
    image = torch.rand(2, 64, 96, 3, generator=torch.Generator().manual_seed(0))
    [latent] = encode_identity([image], kl_vae, pixel_budget=64 * 96)
    assert tuple(latent.shape) == (2, 4, 8, 12)
    raw = diffusers_vae_encoder(kl_vae, normalize=False)(prepare_reference_pixels(image, 64 * 96))
    assert torch.allclose(latent, (raw - 0.1) * 0.5, atol=1e-5)


def test_one_latent_per_reference_in_order(qwen_vae):
    first, second = torch.rand(1, 64, 64, 3), torch.rand(1, 128, 64, 3)
    latents = encode_identity([first, second], qwen_vae, pixel_budget=64 * 64)
    assert [tuple(x.shape[-2:]) for x in latents] == [(8, 8), (11, 6)]
    assert torch.equal(latents[0], encode_identity([first], qwen_vae, pixel_budget=64 * 64)[0])


def test_any_encode_callable_works():
    def pool(pixels: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(pixels, 16)

    [latent] = encode_identity([Image.new("RGB", (300, 200), (255, 255, 255))], pool, pixel_budget=256 * 256,
                               multiple=16)
    assert latent.shape[-2:] == (13, 20)
    assert torch.allclose(latent, torch.ones_like(latent))


def test_empty_reference_is_refused(qwen_vae):
    with pytest.raises(InvalidImageError, match="empty"):
        encode_identity([torch.zeros(1, 0, 16, 3)], qwen_vae)
