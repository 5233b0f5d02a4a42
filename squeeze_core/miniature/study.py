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
from functools import partial

import numpy as np

from ..schedule import StageSchedule
from .case_data import CaseData, draw_split
from .domain.scoring import GRAINS
from ..paired import PairedResult, mcnemar, paired_bootstrap
from .scorecard import BINARY, FIGURES, Scorecard, generate
from .shipped import MiniatureFiles
from .spec import VISION_RESOLUTION, full_run_of, run_name, study_runs

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
    regions: bool = False
    """Bind each picture of a two-subject case to the box its instruction names."""

    @property
    def sampling(self) -> tuple[str, str, float, bool]:
        """What decides its images: two setups with the same sampling are one setup under two names."""
        return self.run, self.schedule, self.guidance, self.regions


def main_row(seed: int) -> str:
    return f"DLA (seed {seed})"


def no_vae_row(seed: int) -> str:
    return f"no VAE identity (seed {seed})"


def schedule_row(schedule: str, seed: int = 0) -> str:
    return f"DLA, {schedule}" + (f" (seed {seed})" if seed else "")


LAST_LAYER, SHARED_POOLER, TEXT_ONLY = "last layer only", "one pooler for all tokens", "text-only encoding"


TRAINED_SCHEDULE = {"no_vae_identity": "MLLM only"}
"""A variant sampled otherwise than at the main schedule: a model that never saw the references' latents in
training is sampled without them (given them at full weight, the seed-0 run followed 0.13 of the instructions,
against 0.41 for the main model without them), so (b) compares each model as it was trained to run."""


def trained_setups(seeds: int = 3) -> list[Setup]:
    """Every trained row (at the main schedule, or the one ``TRAINED_SCHEDULE`` gives its variant): the main
    model and the ablations deciding (b) and (c) at ``seeds`` seeds, the others at seed 0."""
    names = {"full": main_row, "no_vae_identity": no_vae_row, "last_layer": lambda _: LAST_LAYER,
             "shared_pooler": lambda _: SHARED_POOLER, "text_only": lambda _: TEXT_ONLY}
    return [Setup(names[variant](seed), run_name(variant, seed), TRAINED_SCHEDULE.get(variant, MAIN_SCHEDULE))
            for variant, seed in study_runs(seeds)]


REGIONS_ROW = f"DLA, {MAIN_SCHEDULE}, regions from the instruction"


def schedule_setups(run: str = run_name("full", 0)) -> list[Setup]:
    return [Setup(schedule_row(name), run, name) for name in SCHEDULES] + [Setup(REGIONS_ROW, run, regions=True)]


SEEDED_SCHEDULES = (MAIN_SCHEDULE, "always", "paper .85/.70")
"""The schedules deciding (c), sampled on every seed's main model; the others on seed 0's only."""


def study_setups(seeds: int = 3) -> list[Setup]:
    """Every setup of the study: the trained rows, every schedule on seed 0's main model, and the schedules
    deciding (c) on the other seeds' main models."""
    seeded = [Setup(schedule_row(name, seed), run_name("full", seed), name)
              for seed in range(1, seeds) for name in SEEDED_SCHEDULES]
    return trained_setups(seeds) + schedule_setups() + seeded


@dataclass(frozen=True)
class Claim:
    """One of the paper's claims as a paired comparison: rows ``a`` against rows ``b`` on ``figures``. Several
    rows (one per training seed) are paired seed by seed and their cases pooled: the models are held fixed, the
    cases resampled."""

    name: str
    a: tuple[str, ...]
    b: tuple[str, ...]
    figures: tuple[str, ...]


def _at_every_seed(name: str, a, b, figures: tuple[str, ...], seeds: int) -> list[Claim]:
    """A claim tested on each seed's models, then on all of them pooled."""
    found = [Claim(f"{name}, seed {seed}", (a(seed),), (b(seed),), figures) for seed in range(seeds)]
    if seeds > 1:
        found.append(Claim(f"{name}, {seeds} seeds pooled", tuple(map(a, range(seeds))), tuple(map(b, range(seeds))),
                           figures))
    return found


def claims(seeds: int = 3) -> list[Claim]:
    found = [Claim("(a) DLA against the last layer", (main_row(0),), (LAST_LAYER,), ("instruction",) + GRAINS),
             Claim("(a) DLA against one pooler", (main_row(0),), (SHARED_POOLER,), ("instruction",) + GRAINS)]
    found += _at_every_seed("(b) VAE identity", main_row, no_vae_row,
                            ("instruction", "shape", "palette", "mid", "fine", "copy"), seeds)
    found += _at_every_seed("(c) staged against always", partial(schedule_row, MAIN_SCHEDULE),
                            partial(schedule_row, "always"), ("copy", "open_distance", "instruction") + GRAINS, seeds)
    found += _at_every_seed("(c) a longer MLLM-only phase", partial(schedule_row, "paper .85/.70"),
                            partial(schedule_row, MAIN_SCHEDULE), ("instruction", "orientation", "copy") + GRAINS, seeds)
    main = (schedule_row(MAIN_SCHEDULE),)
    found += [Claim("(c) the late MLLM weight at 0.5", (schedule_row("paper .95/.85, late semantic 0.5"),), main,
                    ("instruction", "copy", "fine")),
              Claim("(d) staged against MLLM only, two subjects", main, (schedule_row("MLLM only"),),
                    ("leak", "fine")),
              Claim("(d) region binding, two subjects (only they differ)", (REGIONS_ROW,), main,
                    ("leak", "instruction") + GRAINS)]
    return found


def miniature_pipeline(files: MiniatureFiles, base: MiniatureFiles | None = None, text_only: bool = False):
    """A trained miniature's pipeline, progress bar off: the transformer (and DLA, if any) of ``files`` on the
    MLLM and VAE of ``base`` (by default its own)."""
    from ..pipeline import SqueezePipeline

    base = base or files
    dla = files.dla if os.path.exists(files.dla) else None
    pipeline = SqueezePipeline.from_files(base.mllm, files.diffusion, base.vae, dla,
                                          vision_resolution=VISION_RESOLUTION, text_only=text_only)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def _pipeline(root: str, run: str):
    """A run's pipeline; a variant trained with ``--reuse`` takes the MLLM and VAE of the full run of its seed."""
    files = MiniatureFiles(os.path.join(root, run))
    shared = files if os.path.exists(files.mllm) else MiniatureFiles(os.path.join(root, full_run_of(run)))
    return miniature_pipeline(files, shared, text_only=run.startswith("text_only"))


def run_setups(root: str, setups: list[Setup], *, cases: int = 500, steps: int = 20, seed: int = 0,
               known: dict[tuple, Scorecard] | None = None) -> dict[str, Scorecard]:
    """Scorecards of ``setups`` on the same ``cases`` held-out cases and noise; a setup whose sampling is in
    ``known`` (scored earlier on the same cases, steps and seed) is read from it, not sampled again."""
    data = CaseData(draw_split(cases, "held_out", seed))
    cards, pipelines, done = {}, {}, dict(known or {})
    for setup in setups:
        if setup.sampling not in done:
            if setup.run not in pipelines:
                pipelines[setup.run] = _pipeline(root, setup.run)
            images = generate(pipelines[setup.run], data, SCHEDULES[setup.schedule], steps=steps,
                              guidance=setup.guidance, seed=seed, bind_regions=setup.regions)
            done[setup.sampling] = Scorecard.of(images, data.cases)
        cards[setup.name] = done[setup.sampling]
    return cards


def compare(a: Scorecard, b: Scorecard, figure: str) -> PairedResult:
    """A against B on one figure, over the cases where both define it."""
    both = ~np.isnan(a.figures[figure]) & ~np.isnan(b.figures[figure])
    test = mcnemar if figure in BINARY else paired_bootstrap
    return test(a.figures[figure][both], b.figures[figure][both])


def _header(first: str) -> list[str]:
    return [f"| {first} | " + " | ".join(FIGURES) + " |", "|---" * (len(FIGURES) + 1) + "|"]


def _number(figure: str, value: float) -> str:
    """Degrees to a tenth, shares to a thousandth."""
    return f"{value:.1f}" if figure == "open_distance" else f"{value:.3f}"


def table(cards: dict[str, Scorecard]) -> str:
    """Markdown: one row per setup, the mean of every figure (with how many cases define the sparse ones)."""
    lines = _header("setup")
    for name, card in cards.items():
        cells = []
        for figure in FIGURES:
            value, count = card.mean(figure)
            cells.append(_number(figure, value))
            if count < len(card.figures[figure]):
                cells[-1] += f" ({count})"
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def seed_spread(cards: dict[str, Scorecard], seeds: int = 3) -> str:
    """Markdown: for the rows sampled on several seeds' runs, each figure's mean over the seeds and its range."""
    lines = _header("rows")
    families = [("DLA", main_row), ("no VAE identity", no_vae_row)] + [
        (schedule_row(name), partial(schedule_row, name)) for name in SEEDED_SCHEDULES[1:]]
    for label, row in families:
        present = [cards[row(seed)] for seed in range(seeds) if row(seed) in cards]
        if len(present) < 2:
            continue
        cells = []
        for figure in FIGURES:
            means = np.array([card.mean(figure)[0] for card in present])
            cells.append(f"{_number(figure, means.mean())} ({_number(figure, means.min())}-"
                         f"{_number(figure, means.max())})")
        lines.append(f"| {label}, {len(present)} seeds | " + " | ".join(cells) + " |")
    return "\n".join(lines) if len(lines) > 2 else ""


def report(cards: dict[str, Scorecard], seeds: int = 3) -> str:
    """The table, the seed spread and every claim whose two setups were run, as markdown."""
    parts = [table(cards), seed_spread(cards, seeds)]
    rows = ["| claim | figure | A - B (95% interval) | p | cases |", "|---|---|---|---|---|"]
    for claim in claims(seeds):
        if all(name in cards for name in claim.a + claim.b):
            a, b = (Scorecard.pooled([cards[name] for name in names]) for names in (claim.a, claim.b))
            for figure in claim.figures:
                result = compare(a, b, figure)
                rows.append(f"| {claim.name}: {' + '.join(claim.a)} vs {' + '.join(claim.b)} | {figure} | "
                            f"{result.difference:+.3f} ({result.low:+.3f} to {result.high:+.3f}) | "
                            f"{result.p_value:.2g} | {result.cases} |")
    parts.append("\n".join(rows) if len(rows) > 2 else "")
    return "\n\n".join(part for part in parts if part)
