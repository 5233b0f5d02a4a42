"""The tiny denoiser and DLA the pipeline tests build for the tiny Qwen2.5-VL (width 32, 4 layers), and the
standalone pipeline made of them."""

import torch

from squeeze_core.diffusion_config import DiffusionModelConfig, FluxModelConfig
from squeeze_core.denoiser import build_transformer
from squeeze_core.dla import DLAConfig, DualLayerAggregator
from squeeze_core.joint_encoder import JointEncoder
from squeeze_core.pipeline import SqueezePipeline
from squeeze_core.pipeline_dla import PipelineDLA
from squeeze_core.seeding import seeded
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

TINY_FLUX = FluxModelConfig(num_layers=1, num_single_layers=1, attention_head_dim=32, num_attention_heads=2,
                            joint_attention_dim=32, pooled_projection_dim=16, axes_dims_rope=(4, 14, 14))
"""A FLUX.1-dev-architecture transformer (guidance embedded) with one double and one single block."""


def build_flux_vae(seed: int):
    """FLUX.1's VAE (diffusers ``AutoencoderKL``, 16 latent channels, FLUX's shift and scale) at its real size,
    random weights rounded to bfloat16 so a bfloat16 file holds them exactly: ComfyUI's VAE loader builds this
    layout only at the full width (84M parameters, fast enough at 64x64)."""
    from diffusers import AutoencoderKL

    with seeded(seed):
        vae = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=16,
                            down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                            block_out_channels=(128, 256, 512, 512), layers_per_block=2, shift_factor=0.1159,
                            scaling_factor=0.3611, use_quant_conv=False, use_post_quant_conv=False)
    with torch.no_grad():
        for parameter in vae.parameters():
            parameter.copy_(parameter.to(torch.bfloat16))
    return vae.eval()
