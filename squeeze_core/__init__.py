"""The Squeeze method in plain PyTorch, transformers and diffusers; no ComfyUI import anywhere here."""

import logging

from .dla import AggregatedContext, DLAConfig, DualLayerAggregator, base_conditioning
from .files import load_dla, load_subject, read_dla_config, save_dla, save_subject
from .errors import (
    DLAFileError,
    DLAMismatchError,
    InvalidImageError,
    ModelFolderError,
    PromptError,
    ScheduleError,
    SqueezeError,
    SubjectFileError,
)
from .features import MLLMFeatures, TokenRole, image_role
from .identity import diffusers_vae_encoder, encode_identity, prepare_reference_pixels
from .images import ImageLike, check_reference, resize_to_area, size_for_area, to_image_batch
from .joint_encoder import JointEncoder
from .prompts import QWEN_IMAGE_EDIT_TEMPLATE, QWEN_IMAGE_TEMPLATE, PromptFormat
from .picture_prefix import PicturePrefix
from .schedule import Curve, StageSchedule, StageWeights, progress_from_noise_level
from .subject import Subject, encode_subject

logging.getLogger("squeeze").addHandler(logging.NullHandler())

__all__ = [
    "AggregatedContext", "Curve", "DLAConfig", "DLAFileError", "DLAMismatchError", "DualLayerAggregator",
    "ImageLike", "InvalidImageError", "JointEncoder", "MLLMFeatures", "ModelFolderError", "PicturePrefix",
    "PromptError", "PromptFormat", "QWEN_IMAGE_EDIT_TEMPLATE", "QWEN_IMAGE_TEMPLATE", "ScheduleError", "SqueezeError",
    "StageSchedule", "StageWeights", "Subject", "SubjectFileError", "TokenRole", "base_conditioning",
    "check_reference", "diffusers_vae_encoder", "encode_identity", "encode_subject", "image_role", "load_dla",
    "load_subject", "prepare_reference_pixels", "progress_from_noise_level", "read_dla_config", "resize_to_area",
    "save_dla", "save_subject", "size_for_area", "to_image_batch",
]
