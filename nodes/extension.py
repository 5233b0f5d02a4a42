"""The one list of every node this pack registers with ComfyUI."""

from typing_extensions import override

from comfy_api.latest import ComfyExtension, io

from .conditioning import SqueezeDLAAggregate, SqueezeReferenceStrengths, SqueezeVAEIdentityEncode
from .diffusion_loader import SqueezeDiffusionModelLoader
from .dla_view import SqueezeDLAView
from .encode import SqueezeCLIPJointEncode, SqueezeMLLMEncode
from .loaders import SqueezeDLALoader, SqueezeMLLMLoader
from .model_folders import register_model_folders
from .regions import SqueezeReferenceRegion, SqueezeRegionPreview
from .sampling import SqueezeMultiStageKSampler, SqueezeStageGuider
from .schedule_preview import SqueezeSchedulePreview
from .scoring import SqueezeRankBySubject, SqueezeScorerLoader
from .side_by_side import SqueezeSideBySide
from .subject import (SqueezeSubjectBatchSampler, SqueezeSubjectConditioning, SqueezeSubjectEncode,
                      SqueezeSubjectLoader, SqueezeSubjectSave)

NODES = [
    SqueezeMLLMLoader,
    SqueezeMLLMEncode,
    SqueezeCLIPJointEncode,
    SqueezeDLALoader,
    SqueezeDLAAggregate,
    SqueezeDLAView,
    SqueezeVAEIdentityEncode,
    SqueezeReferenceStrengths,
    SqueezeReferenceRegion,
    SqueezeRegionPreview,
    SqueezeSubjectEncode,
    SqueezeSubjectConditioning,
    SqueezeSubjectBatchSampler,
    SqueezeSubjectSave,
    SqueezeSubjectLoader,
    SqueezeMultiStageKSampler,
    SqueezeStageGuider,
    SqueezeSchedulePreview,
    SqueezeDiffusionModelLoader,
    SqueezeSideBySide,
    SqueezeScorerLoader,
    SqueezeRankBySubject,
]


class SqueezeExtension(ComfyExtension):
    @override
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        register_model_folders()
        return NODES


async def comfy_entrypoint() -> SqueezeExtension:
    return SqueezeExtension()
