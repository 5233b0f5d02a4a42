"""The sizes of the tiny denoiser and DLA the pipeline tests build for the tiny Qwen2.5-VL (width 32, 4 layers)."""

from squeeze_core.diffusion_config import DiffusionModelConfig
from squeeze_core.dla import DLAConfig

TINY_DIFFUSION = DiffusionModelConfig(num_layers=2, attention_head_dim=16, num_attention_heads=2,
                                      joint_attention_dim=32, axes_dims_rope=(4, 6, 6))
TINY_DLA = DLAConfig(32, 4, tuple(range(5)), context_dim=32, pool_dim=32)
