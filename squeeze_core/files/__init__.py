"""The pack's own file formats, one save_*/load_* pair each: safetensors weights with the config that rebuilds
the model in the file's metadata (DLA, diffusion model, VAE in the layout ComfyUI's stock loader reads), LoRAs
of the diffusion model, cached MLLM features, and encoded subjects (pictures, MLLM prefix, VAE latents)."""

from .diffusion_model import load_diffusion_model, read_diffusion_model_config, save_diffusion_model
from .dla import load_dla, read_dla_config, save_dla
from .features import load_features, save_features
from .lora import load_lora, merge_lora, save_lora
from .subject import load_subject, save_subject
from .vae import load_vae, save_vae

__all__ = ["load_diffusion_model", "load_dla", "load_features", "load_lora", "load_vae", "load_subject",
           "merge_lora", "read_diffusion_model_config", "read_dla_config", "save_diffusion_model", "save_dla",
           "save_features", "save_lora", "save_subject", "save_vae"]
