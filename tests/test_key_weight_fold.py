"""Weighted steps without a mask: the key bias folded into the queries and keys gives the masked result,
through each of ComfyUI's own attention functions (basic, split, sub-quadratic, PyTorch), in float32 and
bfloat16, for the semantic stream and two references (alone and with region bindings), with and without a padding mask, in both of
ComfyUI's q/k/v layouts. ComfyUI is imported in a subprocess (tests/harness/attention_check.py)."""

import json
import os
import subprocess
import sys

TOLERANCE = {"float32": 5e-6, "bfloat16": 2e-2}
"""Worst absolute error against a float64 softmax with the bias (inputs of unit scale): float32 rounding,
and bfloat16's own (its masked path is off by 1e-2 too)."""


def test_fold_and_mask_agree_with_the_biased_softmax(comfyui_tree):
    result = subprocess.run([sys.executable, "-m", "tests.harness.attention_check"], capture_output=True,
                            text=True, check=True, env=dict(os.environ, COMFYUI_PATH=comfyui_tree.path))
    errors = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(errors) == 2 * 2 * 2 * 4 * 3 * 2
    assert sum(case.endswith(" regions") for case in errors) == len(errors) // 2
    assert {case.split()[2] for case in errors} == {"auto", "fold", "mask"}
    too_far = {case: error for case, error in errors.items() if not error <= TOLERANCE[case.split()[0]]}
    assert too_far == {}

