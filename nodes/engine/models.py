"""Loaded models wrapped so ComfyUI's model management owns their memory."""

from __future__ import annotations

from dataclasses import dataclass

import comfy.model_management as mm
import comfy.model_patcher
import torch

from ...squeeze_core.dla import DualLayerAggregator
from ...squeeze_core.joint_encoder import JointEncoder
from ...squeeze_core.scoring.subject_scores import SubjectScorer


class _Holder(torch.nn.Module):
    """Gives ModelPatcher the writable ``device`` attribute that transformers models lack."""

    def __init__(self, module: torch.nn.Module, device: torch.device):
        super().__init__()
        self.module = module
        self.device = device


def _patcher(module: torch.nn.Module, load_device, offload_device) -> comfy.model_patcher.ModelPatcher:
    size = sum(p.numel() * p.element_size() for p in module.parameters())
    holder = _Holder(module, next(module.parameters()).device)
    return comfy.model_patcher.ModelPatcher(holder, load_device=load_device, offload_device=offload_device, size=size)


@dataclass
class LoadedMLLM:
    """A JointEncoder whose model ComfyUI loads to the GPU on demand and offloads when it needs room."""

    encoder: JointEncoder
    patcher: comfy.model_patcher.ModelPatcher

    @classmethod
    def wrap(cls, encoder: JointEncoder) -> LoadedMLLM:
        return cls(encoder, _patcher(encoder.model, mm.text_encoder_device(), mm.text_encoder_offload_device()))

    def ready(self) -> JointEncoder:
        mm.load_models_gpu([self.patcher])
        return self.encoder


@dataclass
class LoadedDLA:
    module: DualLayerAggregator
    patcher: comfy.model_patcher.ModelPatcher

    @classmethod
    def wrap(cls, module: DualLayerAggregator) -> LoadedDLA:
        return cls(module, _patcher(module, mm.get_torch_device(), mm.unet_offload_device()))

    def ready(self) -> DualLayerAggregator:
        mm.load_models_gpu([self.patcher])
        return self.module


@dataclass
class LoadedScorer:
    """The identity (DINO) and image-text (CLIP) embedders of a SubjectScorer, under model management."""

    scorer: SubjectScorer
    patchers: list[comfy.model_patcher.ModelPatcher]

    @classmethod
    def wrap(cls, scorer: SubjectScorer) -> LoadedScorer:
        models = (scorer.identity.model, scorer.image_text.model)
        return cls(scorer, [_patcher(model, mm.get_torch_device(), mm.unet_offload_device()) for model in models])

    def ready(self) -> SubjectScorer:
        mm.load_models_gpu(self.patchers)
        return self.scorer
