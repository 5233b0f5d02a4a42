"""``python -m squeeze_core generate`` on the shipped miniature: one image from a reference and an instruction,
and a region per reference that binds it (a whole-image region binds nothing: the same pixels)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image

from squeeze_core.cli import main
from squeeze_core.miniature.example import example_pictures

PROMPT = "put it in the top west on a sand background, upside down"


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("cli") / "subject.png"
    Image.fromarray(example_pictures()[0]).save(path)
    return str(path)


def _generate(reference: str, out, *extra: str) -> np.ndarray:
    main(["generate", "--reference", reference, "--prompt", PROMPT, "--steps", "3", "--out", str(out), *extra])
    return np.asarray(Image.open(out).convert("RGB"), dtype=np.int16)


def test_regions_bind_and_a_whole_image_region_binds_nothing(reference, tmp_path):
    free = _generate(reference, tmp_path / "free.png")
    assert free.shape == (64, 64, 3) and free.std() > 0
    assert np.array_equal(_generate(reference, tmp_path / "whole.png", "--region", "0,0,1,1"), free)
    bound = _generate(reference, tmp_path / "bound.png", "--region", "0.5,0.5,1,1@0.9")
    assert np.abs(bound - free).mean() > 1.0


@pytest.mark.parametrize("region, message", [("0,0,1", "LEFT,TOP,RIGHT,BOTTOM"), ("0.5,0,0.5,1", "left < right"),
                                             ("0,0,1,1@2", "0 \\(off\\) to 1 \\(hard\\)")])
def test_a_bad_region_is_refused_with_the_fix(reference, tmp_path, capsys, region, message):
    with pytest.raises(SystemExit):
        main(["generate", "--reference", reference, "--prompt", PROMPT, "--region", region,
              "--out", str(tmp_path / "x.png")])
    assert re.search(message, capsys.readouterr().err)


def test_more_regions_than_references_are_refused(reference, tmp_path):
    with pytest.raises(SystemExit, match="at most one --region per --reference"):
        main(["generate", "--reference", reference, "--prompt", PROMPT, "--region", "none", "--region", "none",
              "--out", str(tmp_path / "x.png")])
