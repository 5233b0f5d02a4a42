"""Issue 13: the miniature's transformer places its subject in the instructed row more often than in the instructed
column. Is it the column words or the horizontal axis?

    python scripts/position_word_diagnostic.py probe RUN
        linear probes (ridge, one against the rest, 2/3 of the cases fit, 1/3 tested) of the instructed row and
        column from each MLLM layer's mean over the instruction tokens, and from the DLA's context (its mean, and its
        first instruction tokens side by side), on held-out place and open cases
    python scripts/position_word_diagnostic.py stage1 RUN BASELINE OUT [--transposed] [--heads H]
        stage 1 again into OUT with RUN's MLLM and VAE, the same steps and seed, changed: with ``--transposed`` every
        training target (and its loss's code-area weights) transposed, so the row word sets the horizontal place
        and the column word the vertical one (results are transposed back before scoring); with ``--heads`` a
        wider transformer. Then the scorecard (200 held-out cases, MLLM only, guidance 2.5, 20 steps, noise seed 0)
        of OUT paired against BASELINE, RUN's own stage-1 model, on the same cases and noise (McNemar)

RUN and BASELINE are folders ``train --out`` and ``train --checkpoints`` wrote (``stage_1`` inside the latter).
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from squeeze_core.features import TokenRole  # noqa: E402
from squeeze_core.files import load_dla  # noqa: E402
from squeeze_core.joint_encoder import JointEncoder  # noqa: E402
from squeeze_core.miniature.case_data import CaseData, draw_split  # noqa: E402
from squeeze_core.miniature.domain.scenes import COLUMNS, ROWS  # noqa: E402
from squeeze_core.miniature.scorecard import Scorecard, generate  # noqa: E402
from squeeze_core.miniature.shipped import MiniatureFiles  # noqa: E402
from squeeze_core.miniature.spec import MiniatureSpec  # noqa: E402
from squeeze_core.miniature.study import GUIDANCE, SCHEDULES, compare  # noqa: E402
from squeeze_core.miniature.train import TrainingPlan, train_miniature  # noqa: E402
from squeeze_core.miniature.training_cache import encode_features  # noqa: E402
from squeeze_core.pipeline import SqueezePipeline  # noqa: E402

SPEC = MiniatureSpec()
CASES = 200
"""Held-out cases of the scorecard (its one-subject ones give row and column)."""


def _encoder(files: MiniatureFiles) -> JointEncoder:
    return JointEncoder.from_folder(files.mllm, vision_pixel_budget=SPEC.vision_resolution**2)


def _probe_accuracy(x: torch.Tensor, labels: torch.Tensor) -> float:
    fit = 2 * len(labels) // 3
    x = (x - x[:fit].mean(0)) / (x[:fit].std(0) + 1e-6)
    x = torch.cat([x, torch.ones(len(x), 1)], 1).double()
    targets = torch.nn.functional.one_hot(labels, 3).double()
    gram = x[:fit].T @ x[:fit] + torch.eye(x.shape[1], dtype=x.dtype)
    weights = torch.linalg.solve(gram, x[:fit].T @ targets[:fit])
    return float(((x[fit:] @ weights).argmax(1) == labels[fit:]).double().mean())


def probe(run: str) -> None:
    files = MiniatureFiles(run)
    cases = [case for case in draw_split(900, "held_out") if case.instruction.kind in ("place", "open")]
    features = encode_features(_encoder(files), CaseData(cases)).batch(torch.arange(len(cases)), 1)
    with torch.no_grad():
        context = load_dla(files.dla)(features)
    words = [case.target_poses[0].position.split(" ") for case in cases]
    labels = {"row": torch.tensor([list(ROWS).index(row) for row, _ in words]),
              "column": torch.tensor([list(COLUMNS).index(column) for _, column in words])}
    instruction = features.roles == TokenRole.TEXT
    views = {f"MLLM layer {layer}, mean": (features.hidden_states[k] * instruction[..., None]).sum(1)
             / instruction.sum(1, keepdim=True) for k, layer in enumerate(features.layer_indices)}
    text = context.roles == TokenRole.TEXT
    views["DLA context, mean"] = (context.context * text[..., None]).sum(1) / text.sum(1, keepdim=True)
    first = int(text.sum(1).min())
    views[f"DLA context, first {first} tokens"] = torch.stack(
        [row[keep][:first].flatten() for row, keep in zip(context.context, text)])
    print(f"{len(cases)} held-out place/open cases, {len(cases) - 2 * len(cases) // 3} tested")
    for name, x in views.items():
        print(f"{name:32s} row {_probe_accuracy(x, labels['row']):.3f}  column "
              f"{_probe_accuracy(x, labels['column']):.3f}")


class TransposedCases(CaseData):
    """The cases with every target, and the code-area weights of its loss, transposed."""

    def __init__(self, *args) -> None:
        super().__init__(*args)
        self.targets = self.targets.transpose(-1, -2).contiguous()

    def detail_weights(self, scale: int, weight: float) -> torch.Tensor:
        return super().detail_weights(scale, weight).transpose(-1, -2).contiguous()


def _train_stage_1(run: str, out: str, transposed: bool, heads: int) -> None:
    plan = TrainingPlan()
    spec = replace(SPEC, diffusion=replace(SPEC.diffusion, num_attention_heads=heads))
    cases = (TransposedCases if transposed else CaseData)(draw_split(plan.samples, "train", spec.seed),
                                                          plan.unconditional_rate, spec.seed)
    train_miniature(out, replace(plan, stages=plan.stages[:1]), reuse=run, spec=spec, data=cases)


def _scorecard(files: MiniatureFiles, shared: MiniatureFiles, data: CaseData, transposed: bool) -> Scorecard:
    """``files``' transformer and DLA with ``shared``'s MLLM and VAE."""
    pipeline = SqueezePipeline.from_files(shared.mllm, files.diffusion, shared.vae, files.dla,
                                          vision_resolution=SPEC.vision_resolution)
    pipeline.set_progress_bar_config(disable=True)
    images = generate(pipeline, data, SCHEDULES["MLLM only"], guidance=GUIDANCE)
    return Scorecard.of(np.ascontiguousarray(images.transpose(0, 2, 1, 3)) if transposed else images, data.cases)


def stage_1(run: str, baseline: str, out: str, transposed: bool, heads: int) -> None:
    if not os.path.exists(MiniatureFiles(out).diffusion):
        _train_stage_1(run, out, transposed, heads)
    data = CaseData(draw_split(CASES, "held_out"))
    shared = MiniatureFiles(run)
    plain = _scorecard(MiniatureFiles(baseline), shared, data, False)
    changed = _scorecard(MiniatureFiles(out), shared, data, transposed)
    for figure in ("instruction", "row", "column", "shape"):
        result = compare(changed, plain, figure)
        print(f"{figure}: {baseline} {plain.mean(figure)[0]:.3f}, {out} {changed.mean(figure)[0]:.3f}; difference "
              f"{result.difference:+.3f} [{result.low:+.3f}, {result.high:+.3f}], p = {result.p_value:.3g}, "
              f"{result.cases} paired cases")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("probe").add_argument("run")
    again = commands.add_parser("stage1")
    for name in ("run", "baseline", "out"):
        again.add_argument(name)
    again.add_argument("--transposed", action="store_true", help="transpose every training target")
    again.add_argument("--heads", type=int, default=SPEC.diffusion.num_attention_heads,
                       help="the transformer's attention heads (of 32 channels each)")
    options = parser.parse_args()
    if options.command == "probe":
        probe(options.run)
    else:
        stage_1(options.run, options.baseline, options.out, options.transposed, options.heads)


if __name__ == "__main__":
    main()
