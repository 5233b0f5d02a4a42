"""The paired tests behind every "A beats B": McNemar's exact p-value on known counts, and a paired bootstrap
that finds a consistent difference and not a pure-noise one."""

from __future__ import annotations

import numpy as np
import pytest

from squeeze_core.paired import mcnemar, paired_bootstrap


def test_mcnemar_counts_only_discordant_cases():
    agree = np.array([True] * 40 + [False] * 40)
    a = np.concatenate([agree, np.ones(10, bool)])
    b = np.concatenate([agree, np.zeros(10, bool)])
    result = mcnemar(a, b)
    assert result.p_value == pytest.approx(2 / 2**10)
    assert result.difference == pytest.approx(10 / 90) and result.low > 0
    assert mcnemar(agree, agree).p_value == 1.0


def test_mcnemar_even_split_is_no_evidence():
    a = np.array([True, False] * 30)
    assert mcnemar(a, ~a).p_value == 1.0


def test_paired_bootstrap_separates_a_shift_from_noise():
    rng = np.random.default_rng(3)
    base = rng.random(500)
    shifted = paired_bootstrap(base + 0.05 + rng.normal(0, 0.02, 500), base)
    assert shifted.p_value < 0.01 and shifted.low > 0.04
    noise = paired_bootstrap(base + rng.normal(0, 0.05, 500), base, seed=1)
    assert noise.p_value > 0.05 and noise.low < 0 < noise.high


def test_paired_bootstrap_takes_float_rounding_for_no_difference():
    """Two scorings of the same images that differ by rounding alone (~1e-7, all one sign) are no evidence; a
    consistent difference of 1e-3 still is."""
    base = np.random.default_rng(4).random(200).astype(np.float32)
    rounded = paired_bootstrap(base.astype(float) + 1e-7, base)
    assert rounded.p_value == 1.0 and rounded.low == rounded.high == 0.0
    assert paired_bootstrap(base.astype(float) + 1e-3, base).p_value < 0.01
