"""The schedule preview draws every step count it accepts exactly: whole-pixel bars, two per step, none lost."""

import numpy as np
import pytest

from squeeze_core.schedule import StageSchedule
from squeeze_core.schedule_preview import (
    BINDING_COLOUR, IDENTITY_COLOUR, SEMANTIC_COLOUR, preview_width, render_schedule,
)

COUNTS = [*range(1, 301), 511, 512, 513, 1000, 1999, 2000]


@pytest.mark.parametrize("steps", COUNTS)
def test_every_step_has_both_bars(steps):
    picture = render_schedule(StageSchedule.always(), [k / steps for k in range(steps)])
    height, width, _ = picture.shape
    assert width == preview_width(steps) and height == 256
    row = picture[height - 21]
    semantic = np.all(row == SEMANTIC_COLOUR, axis=1)
    identity = np.all(row == IDENTITY_COLOUR, axis=1)
    for k in range(steps):
        left, right = k * width // steps, (k + 1) * width // steps
        middle = (left + right) // 2
        assert semantic[left:middle].all() and identity[middle:right].all(), k
    assert semantic.sum() + identity.sum() == width


def test_a_preview_too_narrow_for_its_steps_is_refused():
    with pytest.raises(ValueError, match="needs at least 600"):
        render_schedule(StageSchedule.always(), [k / 300 for k in range(300)], width=512)


def test_the_strip_shows_where_regions_bind():
    schedule = StageSchedule.always().releasing_regions_at(0.5)
    picture = render_schedule(schedule, [k / 10 for k in range(10)])
    strip = np.all(picture[picture.shape[0] - 20 + 8] == BINDING_COLOUR, axis=1)
    width = picture.shape[1]
    assert strip[:width // 2].all() and not strip[width // 2:].any()
