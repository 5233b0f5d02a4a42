"""Every widget value of a pack node checked against its schema before the node runs.

ComfyUI checks min, max and list membership itself, but not NaN or infinity (NaN passes both bounds), and
not at all for an input that a node's ``validate_inputs`` takes. So every pack node validates all of its
widget values here (``validate_inputs(**values)`` takes them all, and ComfyUI then leaves them to it) and
adds its own checks in ``check_inputs``.
"""

from __future__ import annotations

import math

from comfy_api.latest import io


def _number_problem(spec, value) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"'{spec.id}' must be a number, not {value!r}"
    if not math.isfinite(value):
        return f"'{spec.id}' is {value}; give a finite number"
    if spec.min is not None and value < spec.min:
        return f"'{spec.id}' is {value}, below its minimum {spec.min}"
    if spec.max is not None and value > spec.max:
        return f"'{spec.id}' is {value}, above its maximum {spec.max}"
    return None


def _combo_problem(spec, value) -> str | None:
    options = list(spec.options or [])
    if value in options:
        return None
    shown = ", ".join(map(str, options[:12])) + (" ..." if len(options) > 12 else "")
    return f"'{spec.id}' is {value!r}, which is not one of its choices ({shown or 'none available'})"


def schema_problem(schema: io.Schema, values: dict) -> str | None:
    """The first widget value that breaks its declared type, range or list; None if all hold. Inputs fed by a
    link have no value at validation time and are not in ``values``."""
    for spec in schema.inputs:
        if spec.id not in values or values[spec.id] is None:
            continue
        value = values[spec.id]
        if isinstance(spec, (io.Float.Input, io.Int.Input)):
            problem = _number_problem(spec, value)
        elif isinstance(spec, io.Combo.Input):
            problem = _combo_problem(spec, value)
        else:
            problem = None
        if problem is not None:
            return problem
    return None


class CheckedNode(io.ComfyNode):
    """A pack node: its widget values are checked by ``check_inputs`` (whose messages are the more specific),
    then against its schema."""

    DISPLAY = ""

    @classmethod
    def validate_inputs(cls, **values) -> bool | str:
        own = cls.check_inputs(**values)
        if own is not True:
            return own
        problem = schema_problem(cls.define_schema(), values)
        return True if problem is None else f"{cls.DISPLAY}: {problem}"

    @classmethod
    def check_inputs(cls, **values) -> bool | str:
        """A node's own checks beyond its schema; True or the message (starting with the node's name)."""
        return True
