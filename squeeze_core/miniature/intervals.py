"""95% confidence intervals of one setup's rates, for figures that stand alone (a probe's accuracy); what
compares two setups is in ``paired``."""

from __future__ import annotations

import math
from dataclasses import dataclass

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
