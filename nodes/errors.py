"""User-facing errors: the node's name, what was wrong and the fix, and the server keeps serving."""

from __future__ import annotations

from contextlib import contextmanager

from ..squeeze_core.errors import SqueezeError


class SqueezeNodeError(ValueError):
    pass


@contextmanager
def node_errors(display_name: str):
    """Re-raise the core's SqueezeErrors as one message that starts with the node's display name."""
    try:
        yield
    except SqueezeError as error:
        raise SqueezeNodeError(f"{display_name}: {error}") from error
