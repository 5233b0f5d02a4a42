"""The DLA recipe for real models and data: a frozen MLLM's joint encoding through a trained DLA into a diffusion
transformer trained with a LoRA (or fully), in the paper's two stages, on accelerate (one CPU, several GPUs or
machines); it streams a manifest dataset (squeeze_core.manifest) and writes files ComfyUI and the pipeline load."""
