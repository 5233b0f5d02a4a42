"""What the tests change in the example workflows: the 7B CLIPLoader swapped for a tiny stand-in, the seed."""

from __future__ import annotations

TINY_CLIP = {"class_type": "SqueezeTestTinyQwenImageCLIP", "inputs": {"hidden_size": 3584, "num_layers": 1,
                                                                      "weight_seed": 0}}


def swap_clip_loaders(prompt: dict) -> list[str]:
    """Replace each CLIPLoader by the test-only tiny Qwen2.5-VL text encoder; returns the swapped node ids.

    The stock loader builds only the 7B sizes, so no small stand-in file exists for it."""
    swapped = [node_id for node_id, node in prompt.items() if node["class_type"] == "CLIPLoader"]
    for node_id in swapped:
        prompt[node_id] = {**TINY_CLIP, "inputs": dict(TINY_CLIP["inputs"]), "_meta": prompt[node_id]["_meta"]}
    return swapped


def set_seed(prompt: dict, seed: int) -> None:
    for node in prompt.values():
        for name in ("seed", "noise_seed"):
            if name in node["inputs"] and not isinstance(node["inputs"][name], list):
                node["inputs"][name] = seed
