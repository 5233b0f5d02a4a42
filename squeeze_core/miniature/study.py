"""The miniature's study of the paper's claims: every setup (a trained variant at a seed, a stage schedule, a
guidance scale) scored on the same held-out cases with the same noise, one table of means, and the paired
tests that decide each claim.

Trained runs live under one folder as ``<variant>-seed<k>`` (see ``python -m squeeze_core train``); the main
model is ``full-seed0``. Schedules are the samplers' presets; "paper at .95/.85" switches phases at noise
levels 0.95 and 0.85 (progress 0.05 and 0.15).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ..schedule import StageSchedule
from .case_data import CaseData, draw_split
from .paired import PairedResult, mcnemar, paired_bootstrap
from .scorecard import BINARY, FIGURES, Scorecard, generate
from .shipped import MiniatureFiles
from .spec import VISION_RESOLUTION

MLLM_ONLY = StageSchedule.custom(((0.0, 1.0),), ((0.0, 0.0),))
SCHEDULES = {
    "always": StageSchedule.always(),
    "MLLM only": MLLM_ONLY,
    "paper .95/.85": StageSchedule.paper(0.05, 0.15),
    "paper .97/.90": StageSchedule.paper(0.03, 0.10),
    "paper .85/.70": StageSchedule.paper(0.15, 0.30),
    "paper .95/.85, late semantic 0.5": StageSchedule.paper(0.05, 0.15, late_semantic=0.5),
    "semantic_first": StageSchedule.semantic_first(),
}
MAIN_SCHEDULE = "paper .95/.85"
GUIDANCE = 2.5
"""The paper samples at classifier-free guidance 2.5."""


@dataclass(frozen=True)
class Setup:
    name: str
    run: str
    """A trained run's folder name under the study's root (``full-seed0``, ``no_vae_identity-seed1``, ...)."""
    schedule: str = MAIN_SCHEDULE
    guidance: float = GUIDANCE


def trained_setups(seeds: int = 3) -> list[Setup]:
    """Every trained row at the main schedule: the main model and the ablations deciding (b) and (c) at
    ``seeds`` seeds, the others at seed 0."""
    rows = [Setup(f"DLA (seed {seed})", f"full-seed{seed}") for seed in range(seeds)]
    rows += [Setup(f"no VAE identity (seed {seed})", f"no_vae_identity-seed{seed}") for seed in range(seeds)]
    rows += [Setup("last layer only", "last_layer-seed0"), Setup("one pooler for all tokens", "shared_pooler-seed0"),
             Setup("text-only encoding", "text_only-seed0")]
    return rows


def schedule_setups() -> list[Setup]:
    return [Setup(f"DLA, {name}", "full-seed0", name) for name in SCHEDULES]


def _pipeline(root: str, run: str):
    from ..pipeline import SqueezePipeline

    files = MiniatureFiles(os.path.join(root, run))
    shared = MiniatureFiles(os.path.join(root, "full-seed0"))
    dla = files.dla if os.path.exists(files.dla) else None
    pipeline = SqueezePipeline.from_files(shared.mllm, files.diffusion, shared.vae, dla,
                                          vision_resolution=VISION_RESOLUTION, text_only=run.startswith("text_only"))
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def run_setups(root: str, setups: list[Setup], *, cases: int = 500, steps: int = 20, seed: int = 0
               ) -> dict[str, Scorecard]:
    """Scorecards of ``setups`` on the same ``cases`` held-out cases and noise."""
    data = CaseData(draw_split(cases, "held_out", seed))
    cards, pipelines = {}, {}
    for setup in setups:
        pipeline = pipelines.setdefault(setup.run, _pipeline(root, setup.run))
        images = generate(pipeline, data, SCHEDULES[setup.schedule], steps=steps, guidance=setup.guidance,
                          seed=seed)
        cards[setup.name] = Scorecard.of(images, data.cases)
    return cards


def compare(a: Scorecard, b: Scorecard, figure: str) -> PairedResult:
    """A against B on one figure, over the cases where both define it."""
    both = ~np.isnan(a.figures[figure]) & ~np.isnan(b.figures[figure])
    test = mcnemar if figure in BINARY else paired_bootstrap
    return test(a.figures[figure][both], b.figures[figure][both])


def table(cards: dict[str, Scorecard]) -> str:
    """Markdown: one row per setup, the mean of every figure (with how many cases define the sparse ones)."""
    lines = ["| setup | " + " | ".join(FIGURES) + " |", "|---" * (len(FIGURES) + 1) + "|"]
    for name, card in cards.items():
        cells = []
        for figure in FIGURES:
            value, count = card.mean(figure)
            cells.append(f"{value:.1f}" if figure == "open_distance" else f"{value:.3f}")
            if count < len(card.figures[figure]):
                cells[-1] += f" ({count})"
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
