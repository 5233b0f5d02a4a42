"""A subject encoded once against a full joint encoding per instruction: seconds per instruction, token counts.

One reference picture (1024 x 1024, at the MLLM's default 384 x 384 vision budget) and N instructions. Each round
runs, in turns, (full) the joint encoding of picture + instruction, (reused) the instruction on the subject's
cached prefix, and (alone) a forward of the instruction's own tokens with no picture and no cache: the cost the
reuse aims at. The MLLM is a Qwen2.5-VL of the real architecture at reduced width and depth (what this CPU runs)
over the real prompt's layout (Qwen-Image-Edit's template, image tokens at the real vision budget; its tokenizer is
trained here, so text counts are close to, not equal to, Qwen's), so the printed token counts predict a 7B model.

    "$(bash scripts/venv.sh)/bin/python" scripts/benchmark_subject.py [--rounds 7 --instructions 8]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from squeeze_core.features import TokenRole  # noqa: E402
from squeeze_core.joint_encoder import JointEncoder  # noqa: E402
from squeeze_core.subject import encode_subject  # noqa: E402
from squeeze_core.tiny_models import TinyMLLMSpec, build_tiny_mllm  # noqa: E402

INSTRUCTIONS = (
    "Put the toy from Picture 1 on a beach at sunset",
    "the same toy, twice, in the snow",
    "make the toy red and put it in the top left on a blue background",
    "show it large in the centre, rotated, on a wooden table",
    "a photo of the toy wearing a hat in a garden",
    "the toy on a shelf beside books, soft light",
    "put it small in the bottom right on a white background",
    "the toy floating in space among stars",
)


def _seconds(run) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):.3f}x [{min(values):.3f}, {max(values):.3f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--instructions", type=int, default=8)
    parser.add_argument("--width", type=int, default=256, help="the MLLM's hidden size")
    parser.add_argument("--depth", type=int, default=8, help="the MLLM's decoder layers")
    parser.add_argument("--vision-depth", type=int, default=4)
    parser.add_argument("--picture", type=int, default=1024, help="the reference's side in pixels")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    options = parser.parse_args()
    if options.threads:
        torch.set_num_threads(options.threads)
    spec = TinyMLLMSpec(hidden_size=options.width, num_layers=options.depth, num_heads=8, num_kv_heads=4,
                        vision_hidden_size=options.width, vision_depth=options.vision_depth)
    with tempfile.TemporaryDirectory(prefix="squeeze-subject-bench-") as folder:
        encoder = JointEncoder.from_folder(build_tiny_mllm(os.path.join(folder, "mllm"), spec))
    picture = torch.rand(1, options.picture, options.picture, 3, generator=torch.Generator().manual_seed(0))
    prompts = [INSTRUCTIONS[k % len(INSTRUCTIONS)] for k in range(options.instructions)]
    subject_seconds = _seconds(lambda: encode_subject(encoder, [picture]))
    subject = encode_subject(encoder, [picture])
    tokenizer = encoder.processor.tokenizer
    suffix = encoder.prompt_format.suffix
    alone_ids = [tokenizer(prompt + suffix, return_tensors="pt", add_special_tokens=False)["input_ids"]
                 for prompt in prompts]

    def alone(index: int) -> None:
        with torch.inference_mode():
            encoder.model(input_ids=alone_ids[index], output_hidden_states=True, use_cache=False, logits_to_keep=1)

    runs = {"full": lambda k: encoder.encode(prompts[k], [picture]),
            "reused": lambda k: subject.encode(encoder, prompts[k]),
            "alone": alone}
    for name, run in runs.items():
        run(0)
    times = {name: [] for name in runs}
    for round_number in range(options.rounds):
        order = list(runs)[round_number % 3:] + list(runs)[:round_number % 3]
        for name in order:
            times[name].append(sum(_seconds(lambda k=k: runs[name](k)) for k in range(len(prompts))) / len(prompts))
    prefix_tokens = subject.prefix.length
    image_tokens = int((subject.prefix.roles >= TokenRole.IMAGE).sum())
    instruction_tokens = statistics.mean(ids.shape[1] for ids in alone_ids)
    print(f"Qwen2.5-VL width {options.width}, {options.depth} decoder layers, vision depth {options.vision_depth}; "
          f"one {options.picture}x{options.picture} picture at a 384x384 vision budget; {len(prompts)} instructions; "
          f"{options.rounds} rounds in turns; torch threads {torch.get_num_threads()}")
    print(f"\ntokens: prefix {prefix_tokens} (of them {image_tokens} image tokens), instruction with the closing "
          f"template {instruction_tokens:.1f} on average; the vision tower sees {image_tokens * 4} patches")
    print(f"encoding the subject once: {subject_seconds:.3f} s\n")
    print("| run | s/instruction (median) | vs full, per round: median [min, max] | vs alone |")
    print("|---|---|---|---|")
    for name in runs:
        against_full = [a / b for a, b in zip(times[name], times["full"])]
        against_alone = [a / b for a, b in zip(times[name], times["alone"])]
        print(f"| {name} | {statistics.median(times[name]):.4f} | {_spread(against_full)} | {_spread(against_alone)} |")
    share = instruction_tokens / (prefix_tokens + instruction_tokens)
    print(f"\nprediction for the language model alone (any width): reused/full ~ instruction/(prefix + instruction) "
          f"tokens = {share:.3f}, before the vision tower, which reuse skips entirely")


if __name__ == "__main__":
    main()
