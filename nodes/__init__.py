"""Thin ComfyUI adapters over squeeze_core: ComfyUI types in, core calls, ComfyUI types out."""
