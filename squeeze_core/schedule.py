"""Stage schedules: how much the MLLM's image tokens and each reference's VAE latents count per step.

Progress ``p`` runs from 0 (pure noise) to 1 (clean image). For flow-matching models the noise
level is ``t = sigma``, so ``p = 1 - t``: the paper's switches at t = 0.95 and t = 0.85 are
p = 0.05 and p = 0.15. A weight of 0 leaves those tokens out of the step, 1 leaves the model as
it was trained; values in between (and up to 2) scale the tokens' influence. A curve gives the
shape (0..1) and a strength (0..2) the magnitude, so every weight lies in 0..strength. A third curve
scales how hard each reference's region binds (region_binding): 1 binds fully, 0 releases.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field, replace
from typing import Sequence

from .errors import ScheduleError

MAX_WEIGHT = 2.0
PRESETS = ("always", "paper", "semantic_first", "custom")


@dataclass(frozen=True)
class Curve:
    """A piecewise-linear function of progress through ``points`` (p, value in 0..1), flat outside them.

    Two points may share one p to make a step: the later value holds from that p on, so a
    breakpoint set at p takes effect exactly at p. A point repeated in a row counts once.
    """

    points: tuple[tuple[float, float], ...]

    def __post_init__(self) -> None:
        given = [(float(p), float(v)) for p, v in self.points]
        points = tuple(point for i, point in enumerate(given) if i == 0 or point != given[i - 1])
        object.__setattr__(self, "points", points)
        if not points:
            raise ScheduleError("a schedule curve needs at least one (progress, weight) point")
        for p, v in points:
            if not (math.isfinite(p) and 0.0 <= p <= 1.0):
                raise ScheduleError(f"breakpoint progress {p} is outside 0..1 (0 = pure noise, 1 = clean image)")
            if not (math.isfinite(v) and 0.0 <= v <= 1.0):
                raise ScheduleError(f"curve value {v} at progress {p} is outside 0..1 (use a strength for more)")
        positions = [p for p, _ in points]
        if any(b < a for a, b in zip(positions, positions[1:])):
            raise ScheduleError(f"breakpoints must be in increasing progress order; got {positions}")
        if any(positions.count(p) > 2 for p in positions):
            raise ScheduleError("at most two points may share one progress value (a single step)")

    @classmethod
    def constant(cls, value: float) -> Curve:
        return cls(((0.0, value),))

    def __call__(self, progress: float) -> float:
        positions = [p for p, _ in self.points]
        right = bisect.bisect_right(positions, progress)
        if right == 0:
            return self.points[0][1]
        if right == len(self.points):
            return self.points[-1][1]
        (p0, v0), (p1, v1) = self.points[right - 1], self.points[right]
        if p1 == p0:
            return v1
        return v0 + (v1 - v0) * (progress - p0) / (p1 - p0)


def _check_strength(name: str, value: float) -> float:
    if not (math.isfinite(value) and 0.0 <= value <= MAX_WEIGHT):
        raise ScheduleError(f"{name} {value} is outside 0..{MAX_WEIGHT}")
    return float(value)


def _check_order(**points: float) -> None:
    names = list(points)
    for name in names:
        if not (math.isfinite(points[name]) and 0.0 <= points[name] <= 1.0):
            raise ScheduleError(f"{name} = {points[name]} is outside 0..1 (fraction of the sampling trajectory)")
    for first, second in zip(names, names[1:]):
        if points[first] > points[second]:
            raise ScheduleError(f"{first} ({points[first]}) must not come after {second} ({points[second]})")


@dataclass(frozen=True)
class StageWeights:
    semantic: float
    identity: tuple[float, ...]
    binding: float = 1.0
    """The share of each region's binding strength that holds at this step."""


@dataclass(frozen=True)
class StageSchedule:
    """Semantic and identity weight curves, scaled by global strengths (each 0..2)."""

    semantic_curve: Curve = field(default_factory=lambda: Curve.constant(1.0))
    identity_curve: Curve = field(default_factory=lambda: Curve.constant(1.0))
    identity_strength: float = 1.0
    semantic_strength: float = 1.0
    name: str = "custom"
    binding_curve: Curve = field(default_factory=lambda: Curve.constant(1.0))

    def __post_init__(self) -> None:
        _check_strength("identity strength", self.identity_strength)
        _check_strength("semantic strength", self.semantic_strength)

    @classmethod
    def always(cls, identity_strength: float = 1.0) -> StageSchedule:
        """Both streams on every step: the base model's native single-stage behaviour."""
        return cls(identity_strength=identity_strength, name="always")

    @classmethod
    def paper(
        cls, mllm_only_until: float = 0.05, joint_until: float = 0.15, late_semantic: float = 0.0,
        identity_strength: float = 1.0,
    ) -> StageSchedule:
        """Three phases: MLLM only, then MLLM and VAE, then VAE-focused (``late_semantic`` on the
        MLLM's image tokens; text tokens always stay)."""
        _check_order(mllm_only_until=mllm_only_until, joint_until=joint_until)
        semantic = Curve(((0.0, 1.0), (joint_until, 1.0), (joint_until, late_semantic)))
        identity = Curve(((0.0, 0.0), (mllm_only_until, 0.0), (mllm_only_until, 1.0)))
        return cls(semantic, identity, identity_strength, name="paper")

    @classmethod
    def semantic_first(
        cls, ramp_start: float = 0.1, ramp_end: float = 0.3, identity_strength: float = 1.0
    ) -> StageSchedule:
        """No identity until ``ramp_start``, then a linear ramp to full identity by ``ramp_end``."""
        _check_order(ramp_start=ramp_start, ramp_end=ramp_end)
        identity = Curve(((0.0, 0.0), (ramp_start, 0.0), (ramp_end, 1.0)))
        return cls(Curve.constant(1.0), identity, identity_strength, name="semantic_first")

    @classmethod
    def custom(
        cls, semantic_points: Sequence[tuple[float, float]], identity_points: Sequence[tuple[float, float]],
        identity_strength: float = 1.0,
    ) -> StageSchedule:
        return cls(Curve(tuple(semantic_points)), Curve(tuple(identity_points)), identity_strength, name="custom")

    def semantic_weight(self, progress: float) -> float:
        return min(MAX_WEIGHT, self.semantic_curve(progress) * self.semantic_strength)

    def identity_weight(self, progress: float, reference_strength: float = 1.0) -> float:
        return min(MAX_WEIGHT, self.identity_curve(progress) * self.identity_strength * reference_strength)

    def weights(self, progress: float, reference_strengths: Sequence[float] = (1.0,)) -> StageWeights:
        """The weights for one step at ``progress``, one identity weight per reference."""
        if not (math.isfinite(progress) and 0.0 <= progress <= 1.0):
            raise ScheduleError(f"progress {progress} is outside 0..1")
        strengths = [_check_strength("reference strength", s) for s in reference_strengths]
        return StageWeights(
            semantic=self.semantic_weight(progress),
            identity=tuple(self.identity_weight(progress, s) for s in strengths),
            binding=self.binding_curve(progress),
        )

    def releasing_regions_at(self, progress: float) -> StageSchedule:
        """The schedule with regions bound until ``progress`` and released after it (1: bound throughout)."""
        _check_order(release_regions_at=progress)
        curve = Curve.constant(1.0) if progress >= 1.0 else Curve(((0.0, 1.0), (progress, 1.0), (progress, 0.0)))
        return replace(self, binding_curve=curve)


def progress_from_noise_level(t: float) -> float:
    """Sampling progress for a flow-matching noise level t in 0..1 (t = sigma for these models)."""
    return min(1.0, max(0.0, 1.0 - float(t)))


def parse_points(text: str) -> tuple[tuple[float, float], ...]:
    """Read breakpoints written as ``"0:0, 0.05:0, 0.05:1"`` (progress:value pairs)."""
    points = []
    for item in text.replace(";", ",").split(","):
        if not item.strip():
            continue
        try:
            progress, value = (float(part) for part in item.split(":"))
        except ValueError as error:
            raise ScheduleError(
                f"cannot read breakpoint '{item.strip()}': write progress:value pairs such as '0:0, 0.05:0, 0.05:1'"
            ) from error
        points.append((progress, value))
    return tuple(points)


def schedule_from_preset(
    preset: str, *, switch_1: float, switch_2: float, identity_strength: float = 1.0,
    semantic_points: str = "", identity_points: str = "", semantic_strength: float = 1.0,
    release_regions_at: float = 1.0,
) -> StageSchedule:
    """Build a schedule from a preset name and its two switch points (or custom breakpoint text)."""
    if preset == "always":
        schedule = StageSchedule.always(identity_strength)
    elif preset == "paper":
        schedule = StageSchedule.paper(switch_1, switch_2, identity_strength=identity_strength)
    elif preset == "semantic_first":
        schedule = StageSchedule.semantic_first(switch_1, switch_2, identity_strength=identity_strength)
    elif preset == "custom":
        schedule = StageSchedule.custom(parse_points(semantic_points or "0:1"), parse_points(identity_points or "0:1"),
                                        identity_strength=identity_strength)
    else:
        raise ScheduleError(f"unknown schedule preset '{preset}'; choose one of {', '.join(PRESETS)}")
    return replace(schedule, semantic_strength=semantic_strength).releasing_regions_at(release_regions_at)
