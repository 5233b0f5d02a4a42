"""The pack's key-weight override through ComfyUI's own attention functions, folded and masked, against a
float64 softmax with the bias. Run as ``python -m tests.harness.attention_check`` (ComfyUI is imported into
that process, not the test's); prints one JSON object: the worst error of each case.

The joint sequence is a Qwen-Image call: 12 text tokens (4 of them MLLM image tokens at semantic weight
0.4), 16 target tokens, two references of 8 tokens at identity weights 0.6 and 1.5; 2 heads of 128.
"""

from __future__ import annotations

import json
import math

TEXT, IMAGE_TOKENS, TARGET, REFERENCE = 12, slice(4, 8), 16, 8
HEADS, HEAD_DIM, BATCH = 2, 128, 2
FUNCTIONS = ("attention_basic", "attention_split", "attention_sub_quad", "attention_pytorch")


def joint_bias():
    import torch

    bias = torch.zeros(BATCH, TEXT + TARGET + 2 * REFERENCE)
    bias[:, IMAGE_TOKENS] = math.log(0.4)
    bias[:, TEXT + TARGET:TEXT + TARGET + REFERENCE] = math.log(0.6)
    bias[:, TEXT + TARGET + REFERENCE:] = math.log(1.5)
    return bias


def layout(key_weights):
    """The same bias as the pack lays it out: text log weights, then the target, then each reference."""
    import torch

    text = torch.zeros(BATCH, TEXT)
    text[:, IMAGE_TOKENS] = math.log(0.4)
    references = torch.tensor([[math.log(0.6), math.log(1.5)]]).expand(BATCH, 2)
    return key_weights.JointLayout(torch.zeros(BATCH, TEXT, 1), text, TARGET, references, [REFERENCE, REFERENCE])


def reference_attention(q, k, v, bias, padding):
    """float64 softmax(q k / sqrt(d) + bias + padding) v over [B, H, T, d]."""
    import torch

    logits = q.double() @ k.double().transpose(-1, -2) / math.sqrt(HEAD_DIM)
    logits = logits + bias.double()[:, None, None] + padding.double()
    return torch.softmax(logits, dim=-1) @ v.double()


def worst_errors() -> dict[str, float]:
    import torch

    from tools.comfyui_process import import_comfyui, import_pack_module

    import_comfyui()
    import comfy.ldm.modules.attention as attention

    key_weights = import_pack_module("nodes.engine.key_weights")
    keys = TEXT + TARGET + 2 * REFERENCE
    bias = joint_bias()
    generator = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(BATCH, HEADS, keys, HEAD_DIM, generator=generator) for _ in range(3))
    padding = torch.zeros(BATCH, 1, 1, keys)
    padding[1, ..., TEXT - 3:TEXT] = -1e4
    errors = {}
    for dtype in (torch.float32, torch.bfloat16):
        rounded = [tensor.to(dtype) for tensor in (q, k, v)]
        for padded in (False, True):
            expected = reference_attention(*rounded, bias, padding if padded else torch.zeros(1))
            for name in FUNCTIONS:
                func = getattr(attention, name)
                func = getattr(func, "__wrapped__", func)
                for method in key_weights.KEY_WEIGHT_METHODS:
                    override = key_weights.key_bias_override(layout(key_weights), method=method)
                    mask = padding.to(dtype) if padded else None
                    for skip_reshape in (False, True):
                        inputs = rounded if skip_reshape else [t.transpose(1, 2).flatten(2) for t in rounded]
                        out = override(func, *inputs, HEADS, mask, skip_reshape=skip_reshape,
                                       transformer_options={"reference_image_num_tokens": [REFERENCE, REFERENCE]})
                        out = out.unflatten(-1, (HEADS, HEAD_DIM)).transpose(1, 2)
                        case = f"{str(dtype)[6:]} {name} {method} {'padded' if padded else 'unpadded'}" \
                               f"{' skip_reshape' if skip_reshape else ''}"
                        errors[case] = (out.double() - expected).abs().max().item()
    return errors


if __name__ == "__main__":
    print(json.dumps(worst_errors()))
