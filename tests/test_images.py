import math

import numpy as np
import pytest
import torch
from PIL import Image

from squeeze_core.errors import InvalidImageError
from squeeze_core.images import (
    MIN_REFERENCE_SIDE, check_reference, resize_to_area, size_for_area, to_image_batch,
)


@pytest.mark.parametrize(
    "image, shape",
    [
        (torch.rand(2, 10, 12, 3), (2, 3, 10, 12)),
        (torch.rand(10, 12, 4), (1, 3, 10, 12)),
        (torch.rand(10, 12), (1, 3, 10, 12)),
        (np.zeros((5, 7), dtype=np.uint8), (1, 3, 5, 7)),
        (np.zeros((5, 7, 2), dtype=np.uint8), (1, 3, 5, 7)),
        (Image.new("RGBA", (7, 5)), (1, 3, 5, 7)),
        (Image.new("L", (7, 5)), (1, 3, 5, 7)),
        (Image.new("P", (7, 5)), (1, 3, 5, 7)),
        (Image.new("I;16", (7, 5)), (1, 3, 5, 7)),
        (Image.new("CMYK", (7, 5)), (1, 3, 5, 7)),
    ],
)
def test_every_input_form_becomes_rgb_float_batch(image, shape):
    batch = to_image_batch(image)
    assert tuple(batch.shape) == shape
    assert batch.dtype == torch.float32
    assert 0.0 <= float(batch.min()) and float(batch.max()) <= 1.0


def test_alpha_is_dropped_and_grey_repeated():
    rgba = torch.zeros(1, 2, 2, 4)
    rgba[..., 0] = 0.5
    rgba[..., 3] = 1.0
    out = to_image_batch(rgba)
    assert torch.all(out[:, 0] == 0.5) and torch.all(out[:, 1:] == 0.0)
    grey = to_image_batch(np.full((2, 2), 255, dtype=np.uint8))
    assert torch.all(grey == 1.0)


def test_check_reference_refuses_transparency_and_tiny_pictures_and_passes_the_rest():
    opaque = torch.ones(1, 32, 32, 4)
    check_reference(opaque, "image1")
    check_reference(torch.rand(2, MIN_REFERENCE_SIDE, 40, 3), "image1")
    check_reference(torch.full((20, 20, 4), 255, dtype=torch.uint8))
    holed = opaque.clone()
    holed[0, 5, 5, 3] = 0.5
    with pytest.raises(InvalidImageError, match=r"image2 has transparent pixels.*composite"):
        check_reference(holed, "image2")
    with pytest.raises(InvalidImageError, match=r"image1 is 1x1 pixels.*at least 16"):
        check_reference(torch.rand(1, 1, 1, 3), "image1")
    with pytest.raises(InvalidImageError, match="40x8"):
        check_reference(torch.rand(1, 8, 40, 3), "image1")


@pytest.mark.parametrize("bad", [torch.zeros(0, 4, 4, 3), torch.zeros(1, 0, 4, 3), np.zeros((0, 0, 3))])
def test_empty_images_are_refused_clearly(bad):
    with pytest.raises(InvalidImageError, match="empty"):
        to_image_batch(bad)


def test_wrong_layout_names_the_expected_layout():
    with pytest.raises(InvalidImageError, match=r"\[B, H, W, C\]"):
        to_image_batch(torch.zeros(1, 3, 8, 8))
    with pytest.raises(InvalidImageError, match="tensor"):
        to_image_batch("picture.png")


@pytest.mark.parametrize("height, width", [(1, 1), (768, 1024), (50, 4000), (333, 777)])
def test_size_for_area_follows_comfyui_rounding(height, width):
    scale = math.sqrt(1024 * 1024 / (height * width))
    expected = (max(8, round(height * scale / 8) * 8), max(8, round(width * scale / 8) * 8))
    assert size_for_area(height, width, 1024 * 1024, 8) == expected


def test_extreme_aspect_is_squeezed_to_a_usable_one():
    height, width = size_for_area(1, 100_000, 384 * 384, 28)
    assert height >= 28 and width / height <= 160


def test_resize_keeps_aspect_and_multiple():
    out = resize_to_area(torch.rand(1, 3, 100, 200), 64 * 64, 8)
    h, w = out.shape[-2:]
    assert h % 8 == 0 and w % 8 == 0 and abs(w / h - 2.0) < 0.2
