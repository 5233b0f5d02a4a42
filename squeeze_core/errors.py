"""Errors the core raises: each message says what was wrong and how to fix it."""


class SqueezeError(ValueError):
    """Base class, so callers (the ComfyUI nodes) can catch every user-facing problem at once."""


class InvalidImageError(SqueezeError):
    """An image that cannot be used as a reference (empty, wrong layout, wrong type)."""


class ModelFolderError(SqueezeError):
    """An MLLM folder that cannot be loaded safely (no config, no safetensors, unknown family)."""


class DLAFileError(SqueezeError):
    """A DLA file that is not a readable safetensors file with a DLA config."""


class DLAMismatchError(SqueezeError):
    """A DLA made for another MLLM (width or layer count) than the features it is given."""


class ModelFileError(SqueezeError):
    """A diffusion model file without the pack's config, or whose weights do not match it."""


class SubjectFileError(SqueezeError):
    """A subject file that is not a readable safetensors file holding a whole encoded subject."""


class ScheduleError(SqueezeError):
    """A stage schedule with breakpoints or weights outside their valid ranges."""


class PromptError(SqueezeError):
    """A prompt or template the encoder cannot use."""
