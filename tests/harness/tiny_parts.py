"""The tiny denoiser and DLA the pipeline tests build for the tiny Qwen2.5-VL (width 32, 4 layers), and the
standalone pipeline made of them."""

import torch

from squeeze_core.diffusion_config import DiffusionModelConfig
from squeeze_core.denoiser import build_transformer
from squeeze_core.dla import DLAConfig, DualLayerAggregator
from squeeze_core.joint_encoder import JointEncoder
from squeeze_core.pipeline import SqueezePipeline
from squeeze_core.pipeline_dla import PipelineDLA
from squeeze_core.tiny_models import TinyMLLMSpec, build_tiny_mllm
from squeeze_core.tiny_vae import build_tiny_vae

TINY_DIFFUSION = DiffusionModelConfig(num_layers=2, attention_head_dim=16, num_attention_heads=2,
                                      joint_attention_dim=32, axes_dims_rope=(4, 6, 6))
TINY_DLA = DLAConfig(32, 4, tuple(range(5)), context_dim=32, pool_dim=32)


def tiny_squeeze_pipeline(folder, vision_resolution: int = 112) -> SqueezePipeline:
    """Random tiny parts of the real architectures (MLLM written under ``folder``), the DLA's gates half open."""
    encoder = JointEncoder.from_folder(build_tiny_mllm(folder, TinyMLLMSpec(family="qwen2_5_vl")))
    dla = DualLayerAggregator(TINY_DLA)
    with torch.no_grad():
        dla.text_gate.fill_(0.5)
        dla.image_gate.fill_(0.5)
    pipeline = SqueezePipeline(build_transformer(TINY_DIFFUSION, seed=0).eval(), build_tiny_vae(seed=3).eval(),
                               encoder.model, encoder.processor, PipelineDLA.wrap(dla.eval()),
                               vision_resolution=vision_resolution)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline
