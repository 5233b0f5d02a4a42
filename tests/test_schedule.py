"""Property tests of the stage schedules."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from squeeze_core.errors import ScheduleError
from squeeze_core.schedule import Curve, StageSchedule, progress_from_noise_level

progress = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
strength = st.floats(min_value=0.0, max_value=2.0, allow_nan=False)
unit = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)


@st.composite
def ordered_pair(draw):
    a, b = sorted([draw(unit), draw(unit)])
    return a, b


@st.composite
def curve_points(draw):
    positions = sorted(draw(st.lists(unit, min_size=1, max_size=6)))
    positions = [p for i, p in enumerate(positions) if positions[:i].count(p) < 2]
    return [(p, draw(unit)) for p in positions]


def presets(draw_pair, s):
    a, b = draw_pair
    return [StageSchedule.always(s), StageSchedule.paper(a, b, identity_strength=s),
            StageSchedule.semantic_first(a, b, identity_strength=s)]


@given(ordered_pair(), strength, progress)
def test_preset_weights_stay_within_strength(pair, s, p):
    for schedule in presets(pair, s):
        weights = schedule.weights(p)
        assert 0.0 <= weights.identity[0] <= s
        assert 0.0 <= weights.semantic <= 1.0


@given(curve_points(), curve_points(), strength, progress)
def test_custom_weights_stay_within_strength(semantic, identity, s, p):
    schedule = StageSchedule.custom(semantic, identity, identity_strength=s)
    weights = schedule.weights(p, reference_strengths=(1.0, 0.5))
    assert 0.0 <= weights.identity[0] <= s
    assert 0.0 <= weights.identity[1] <= weights.identity[0] + 1e-12
    assert 0.0 <= weights.semantic <= 1.0


@given(ordered_pair(), strength, progress, progress)
def test_ramps_are_monotone(pair, s, p, q):
    lo, hi = sorted([p, q])
    ramp = StageSchedule.semantic_first(*pair, identity_strength=s)
    assert ramp.identity_weight(lo) <= ramp.identity_weight(hi) + 1e-12
    paper = StageSchedule.paper(*pair, identity_strength=s)
    assert paper.identity_weight(lo) <= paper.identity_weight(hi)
    assert paper.semantic_weight(lo) >= paper.semantic_weight(hi)


@given(strength, progress, progress)
def test_always_is_constant(s, p, q):
    schedule = StageSchedule.always(s)
    assert schedule.weights(p) == schedule.weights(q)
    assert schedule.weights(p).identity == (s,) and schedule.weights(p).semantic == 1.0


@given(ordered_pair())
def test_breakpoints_land_exactly_where_set(pair):
    a, b = pair
    paper = StageSchedule.paper(a, b)
    assert paper.identity_weight(a) == 1.0
    assert paper.semantic_weight(b) == 0.0
    if a > 0:
        assert paper.identity_weight(math.nextafter(a, 0.0)) == 0.0
    if b > 0:
        assert paper.semantic_weight(math.nextafter(b, 0.0)) == 1.0
    ramp = StageSchedule.semantic_first(a, b)
    assert ramp.identity_weight(a) == (1.0 if a == b else 0.0)
    assert ramp.identity_weight(b) == 1.0


@settings(max_examples=50)
@given(curve_points(), progress)
def test_custom_curve_passes_through_its_points(points, p):
    curve = Curve(tuple(points))
    last_at = {}
    for position, value in points:
        last_at[position] = value
    for position, value in last_at.items():
        assert curve(position) == value
    assert 0.0 <= curve(p) <= 1.0


def test_paper_preset_defaults_are_the_reported_switches():
    paper = StageSchedule.paper()
    assert paper.weights(0.0).semantic == 1.0 and paper.weights(0.0).identity == (0.0,)
    assert paper.weights(0.05).identity == (1.0,) and paper.weights(0.10).semantic == 1.0
    assert paper.weights(0.15).semantic == 0.0 and paper.weights(0.99).identity == (1.0,)
    assert progress_from_noise_level(0.95) == pytest.approx(0.05)
    assert progress_from_noise_level(0.85) == pytest.approx(0.15)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: StageSchedule.paper(0.3, 0.1), "must not come after"),
        (lambda: StageSchedule.paper(-0.1, 0.1), "outside 0..1"),
        (lambda: StageSchedule.semantic_first(0.2, 1.5), "outside 0..1"),
        (lambda: StageSchedule.always(2.5), "identity strength 2.5"),
        (lambda: StageSchedule.custom([(0.5, 1.0), (0.2, 0.0)], [(0.0, 1.0)]), "increasing progress"),
        (lambda: StageSchedule.custom([(0.5, 1.5)], [(0.0, 1.0)]), "outside 0..1"),
        (lambda: StageSchedule.custom([], [(0.0, 1.0)]), "at least one"),
        (lambda: StageSchedule.custom([(0.5, 0), (0.5, 1), (0.5, 0)], [(0.0, 1.0)]), "at most two"),
        (lambda: StageSchedule.custom([(float("nan"), 0)], [(0.0, 1.0)]), "outside 0..1"),
        (lambda: StageSchedule.always().weights(1.2), "progress 1.2"),
        (lambda: StageSchedule.always().weights(0.5, reference_strengths=(3.0,)), "reference strength"),
    ],
)
def test_bad_schedules_are_rejected(make, message):
    with pytest.raises(ScheduleError, match=message):
        make()
