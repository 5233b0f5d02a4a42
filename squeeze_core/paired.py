"""Paired comparisons of two models on the same cases (same pictures, same noise): what an "A beats B" in the
README rests on. Binary figures take McNemar's exact test on the discordant cases; graded ones (bit accuracy,
turn distance) a paired bootstrap of the mean difference."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .intervals import bootstrap_means


@dataclass(frozen=True)
class PairedResult:
    difference: float
    """Mean of A minus B over the cases both define."""
    low: float
    high: float
    """95% interval of the difference."""
    p_value: float
    cases: int

    def text(self) -> str:
        return (f"{self.difference:+.3f} (95% {self.low:+.3f} to {self.high:+.3f}, p = {self.p_value:.2g}, "
                f"{self.cases} cases)")


NO_CASES = PairedResult(float("nan"), float("nan"), float("nan"), float("nan"), 0)
"""The comparison where no case defines the figure for both setups: no evidence either way."""


def _binomial_two_sided(successes: int, trials: int) -> float:
    """Exact two-sided p-value of ``successes`` in ``trials`` fair coin flips."""
    if trials == 0:
        return 1.0
    tail = min(successes, trials - successes)
    mass = sum(math.comb(trials, k) for k in range(tail + 1)) / 2.0**trials
    return min(1.0, 2.0 * mass)


def mcnemar(a: np.ndarray, b: np.ndarray, resamples: int = 2000, seed: int = 0) -> PairedResult:
    """A against B on binary outcomes of the same cases: the p-value counts only cases where they disagree."""
    a, b = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    if not len(a):
        return NO_CASES
    a_only, b_only = int((a & ~b).sum()), int((~a & b).sum())
    low, high, _ = bootstrap_means(a.astype(float) - b.astype(float), resamples, seed)
    return PairedResult(float(a.mean() - b.mean()), low, high, _binomial_two_sided(a_only, a_only + b_only), len(a))


ROUNDING = 1e-6
"""Differences of a case this small are float rounding (two evaluations of identical images differ by ~1e-7),
not evidence: the bootstrap counts them as zero."""


def paired_bootstrap(a: np.ndarray, b: np.ndarray, resamples: int = 2000, seed: int = 0) -> PairedResult:
    """A against B on graded outcomes of the same cases; the p-value is the bootstrap's two-sided share of
    resampled mean differences on the far side of zero."""
    differences = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    differences[np.abs(differences) <= ROUNDING] = 0.0
    if not len(differences):
        return NO_CASES
    low, high, means = bootstrap_means(differences, resamples, seed)
    far = min((means <= 0).mean(), (means >= 0).mean())
    return PairedResult(float(differences.mean()), low, high, float(min(1.0, 2.0 * far + 1.0 / resamples)),
                        len(differences))
