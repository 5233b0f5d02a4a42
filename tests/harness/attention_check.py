"""The pack's key-weight override through ComfyUI's own attention functions, folded and masked, against a
float64 softmax with the bias. Run as ``python -m tests.harness.attention_check`` (ComfyUI is imported into
that process, not the test's); prints one JSON object: the worst error of each case.

The joint sequence is a Qwen-Image call: 12 text tokens (4 of them MLLM image tokens at semantic weight
0.4), 16 target tokens, two references of 8 tokens at identity weights 0.6 and 1.5; 2 heads of 128. With
regions, the first reference (and the first two image tokens, its picture's) binds hard to the left half of
the target and the second at strength 0.5 to its top half.
"""

from __future__ import annotations

import itertools
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


def region_log_weights():
    """[2, TARGET] the two references' log weights per target token (a 4 x 4 grid, row-major)."""
    import torch

    columns = torch.arange(TARGET) % 4
    rows = torch.arange(TARGET) // 4
    first = torch.where(columns < 2, 0.0, -30.0)
    second = torch.where(rows < 2, 0.0, math.log(0.5))
    return torch.stack([first, second])


def region_bias():
    """[B, queries, keys] the regions' part of the bias, written out token by token."""
    import torch

    logs = region_log_weights()
    keys = TEXT + TARGET + 2 * REFERENCE
    bias = torch.zeros(BATCH, keys, keys)
    for i in range(TARGET):
        query = TEXT + i
        bias[:, query, IMAGE_TOKENS.start:IMAGE_TOKENS.start + 2] += logs[0, i]
        bias[:, query, TEXT + TARGET:TEXT + TARGET + REFERENCE] += logs[0, i]
        bias[:, query, TEXT + TARGET + REFERENCE:] += logs[1, i]
    return bias


def layout(key_weights, regions: bool):
    """The same bias as the pack lays it out: text log weights, then the target, then each reference."""
    import torch

    text = torch.zeros(BATCH, TEXT)
    text[:, IMAGE_TOKENS] = math.log(0.4)
    references = torch.tensor([[math.log(0.6), math.log(1.5)]]).expand(BATCH, 2)
    bound = ()
    if regions:
        members = torch.zeros(TEXT, 2)
        members[IMAGE_TOKENS.start:IMAGE_TOKENS.start + 2, 0] = 1.0
        bound = (region_log_weights().expand(BATCH, 2, TARGET), members.expand(BATCH, TEXT, 2),
                 torch.eye(2).expand(BATCH, 2, 2))
    return key_weights.JointLayout(torch.zeros(BATCH, TEXT, 1), text, TARGET, references, [REFERENCE, REFERENCE],
                                   *bound)


def reference_attention(q, k, v, bias, padding):
    """float64 softmax(q k / sqrt(d) + bias + padding) v over [B, H, T, d]."""
    import torch

    logits = q.double() @ k.double().transpose(-1, -2) / math.sqrt(HEAD_DIM)
    logits = logits + bias.double()[:, None] + padding.double()
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
    cases = itertools.product((torch.float32, torch.bfloat16), (False, True), (False, True), FUNCTIONS,
                              key_weights.KEY_WEIGHT_METHODS, (False, True))
    for dtype, padded, regions, name, method, skip_reshape in cases:
        rounded = [tensor.to(dtype) for tensor in (q, k, v)]
        full = bias[:, None] + region_bias() if regions else bias[:, None]
        expected = reference_attention(*rounded, full, padding if padded else torch.zeros(1))
        func = getattr(attention, name)
        func = getattr(func, "__wrapped__", func)
        override = key_weights.key_bias_override(layout(key_weights, regions), method=method)
        mask = padding.to(dtype) if padded else None
        inputs = rounded if skip_reshape else [t.transpose(1, 2).flatten(2) for t in rounded]
        out = override(func, *inputs, HEADS, mask, skip_reshape=skip_reshape,
                       transformer_options={"reference_image_num_tokens": [REFERENCE, REFERENCE]})
        out = out.unflatten(-1, (HEADS, HEAD_DIM)).transpose(1, 2)
        case = f"{str(dtype)[6:]} {name} {method} {'padded' if padded else 'unpadded'}" \
               f"{' skip_reshape' if skip_reshape else ''}{' regions' if regions else ''}"
        errors[case] = (out.double() - expected).abs().max().item()
    return errors


if __name__ == "__main__":
    print(json.dumps(worst_errors()))
