"""95% confidence intervals of one setup's figures, for figures that stand alone (a probe's accuracy, a mean
similarity); what compares two setups is in ``paired``."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

Z95 = 1.959964


@dataclass(frozen=True)
class Interval:
    value: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.value:.3f} [{self.low:.3f}, {self.high:.3f}]"


def proportion(successes: int, total: int) -> Interval:
    """Wilson score interval: sound near 0 and 1, where the normal approximation is not."""
    if total == 0:
        return Interval(float("nan"), 0.0, 1.0)
    p = successes / total
    denominator = 1 + Z95**2 / total
    centre = (p + Z95**2 / (2 * total)) / denominator
    half = Z95 * math.sqrt(p * (1 - p) / total + Z95**2 / (4 * total**2)) / denominator
    return Interval(p, max(0.0, centre - half), min(1.0, centre + half))


def bootstrap_means(values: np.ndarray, resamples: int = 2000, seed: int = 0) -> tuple[float, float, np.ndarray]:
    """The 2.5 and 97.5 percentiles of the mean over resamples of ``values`` (with replacement), and the means."""
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), (resamples, len(values)))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high), means


def mean_interval(values) -> Interval:
    """The mean of graded figures with its 95% normal-approximation interval (infinite for a single value)."""
    array = np.asarray(values, dtype=np.float64)
    if not len(array):
        return Interval(float("nan"), float("nan"), float("nan"))
    half = Z95 * array.std(ddof=1) / math.sqrt(len(array)) if len(array) > 1 else float("inf")
    return Interval(float(array.mean()), float(array.mean() - half), float(array.mean() + half))
