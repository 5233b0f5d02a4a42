"""Test harness: a real ComfyUI server with this pack linked in, driven over HTTP."""
