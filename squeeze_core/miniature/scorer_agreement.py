"""Do DreamBench's figures point the way the miniature's exact metrics do? On held-out one-subject cases (``place``:
the instruction alone sets the target) the shipped miniature's results are scored twice, against the true case and
against a wrong one (another held-out subject's picture at the same pose and ground, another case's instruction):
exact identity (shape, palette, mid and fine bits), DINO and CLIP-I must each favour the true subject, exact
instruction-following and CLIP-T the true instruction, each by a paired test on the same images. The DreamBench
table of those results is written as ``evaluate-dla`` writes one."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

import numpy as np

from ..paired import PairedResult, mcnemar, paired_bootstrap
from ..pipeline import SqueezePipeline
from ..scoring.subject_scores import SubjectScorer
from ..scoring.sweep import write_scores
from .case_data import CaseData, draw_split, with_other_subjects
from .domain.cases import Case, render_case
from .domain.scenes import target_poses
from .domain.scoring import GRAINS, score_case
from .example import EXAMPLE_SCHEDULE
from .scorecard import generate
from .shipped import SHIPPED, MiniatureFiles
from .study import GUIDANCE, SCHEDULES, miniature_pipeline

SIGNIFICANCE = 0.05


@dataclass(frozen=True)
class Contrast:
    name: str
    exact: PairedResult
    """The exact metric on the true case minus on the wrong one (identity: paired bootstrap; instruction:
    McNemar)."""
    score: PairedResult
    """The DreamBench figure on the true case minus on the wrong one (paired bootstrap)."""

    @property
    def agrees(self) -> bool:
        """Both differences significant and of one sign."""
        return (self.exact.p_value < SIGNIFICANCE and self.score.p_value < SIGNIFICANCE
                and np.sign(self.exact.difference) == np.sign(self.score.difference))


def place_cases(count: int, seed: int = 0) -> list[Case]:
    """The first ``count`` held-out ``place`` cases of ``seed``'s draw."""
    drawn, found = 4 * count, []
    while len(found) < count:
        found = [case for case in draw_split(drawn, "held_out", seed) if case.instruction.kind == "place"]
        drawn *= 2
    return found[:count]


def wrong_instruction_cases(cases: list[Case]) -> list[Case]:
    """Each case with the instruction of the next case that asks for something else (same subject and picture)."""
    wrong = []
    for index, case in enumerate(cases):
        step = 1
        while cases[(index + step) % len(cases)].instruction == case.instruction:
            step += 1
        instruction = cases[(index + step) % len(cases)].instruction
        wrong.append(replace(case, instruction=instruction,
                             target_poses=tuple(target_poses(instruction, case.reference_poses[0], 0))))
    return wrong


def exact_identity(image: np.ndarray, case: Case) -> float:
    """The mean of the four grains' scores: shape, palette in order, mid and fine bit accuracy."""
    scores = score_case(image, case)
    return float(np.mean([scores[grain] for grain in GRAINS]))


def scorer_agreement(pipeline: SqueezePipeline, scorer: SubjectScorer, out: str, *, cases: int = 200,
                     steps: int = 20, seed: int = 0) -> tuple[list[Contrast], str]:
    """The three contrasts, and the DreamBench table (also written to ``out``) of the true cases."""
    chosen = place_cases(cases, seed)
    others, wrong = with_other_subjects(chosen, seed), wrong_instruction_cases(chosen)
    images = generate(pipeline, CaseData(chosen), SCHEDULES[EXAMPLE_SCHEDULE], steps=steps, guidance=GUIDANCE,
                      seed=seed)
    figures = {name: [] for name in ("identity", "other identity", "instruction", "other instruction")}
    true_scores, wrong_scores, records = [], [], []
    for index, (image, case, other, instruction) in enumerate(zip(images, chosen, others, wrong)):
        figures["identity"].append(exact_identity(image, case))
        figures["other identity"].append(exact_identity(image, other))
        figures["instruction"].append(score_case(image, case)["instruction"])
        figures["other instruction"].append(score_case(image, instruction)["instruction"])
        (picture,), target, _ = render_case(case)
        (other_picture,), _, _ = render_case(other)
        true = scorer.score([image], [picture], case.instruction.text, target)
        false = scorer.score([image], [other_picture], instruction.instruction.text)
        true_scores.append(true.row(0))
        wrong_scores.append(false.row(0))
        records.append({"line": index + 1, "id": str(index), "seed": seed, "instruction": case.instruction.text,
                        **true.row(0)})
    column = lambda rows, name: np.array([row[name] for row in rows])  # noqa: E731
    identity = paired_bootstrap(np.array(figures["identity"]), np.array(figures["other identity"]))
    contrasts = [
        Contrast("identity: DINO", identity,
                 paired_bootstrap(column(true_scores, "dino"), column(wrong_scores, "dino"))),
        Contrast("identity: CLIP-I", identity,
                 paired_bootstrap(column(true_scores, "clip_i"), column(wrong_scores, "clip_i"))),
        Contrast("instruction: CLIP-T", mcnemar(figures["instruction"], figures["other instruction"]),
                 paired_bootstrap(column(true_scores, "clip_t"), column(wrong_scores, "clip_t"))),
    ]
    return contrasts, write_scores(records, os.fspath(out), f"Squeeze miniature ({EXAMPLE_SCHEDULE})")


def agreement_table(contrasts: list[Contrast]) -> str:
    lines = ["| contrast (true case minus wrong case) | exact metric | DreamBench figure | agree |",
             "|---|---|---|---|"]
    lines += [f"| {c.name} | {c.exact.text()} | {c.score.text()} | {'yes' if c.agrees else 'no'} |"
              for c in contrasts]
    return "\n".join(lines)


def run_scorer_agreement(out: str, scorers: MiniatureFiles = SHIPPED, *, cases: int = 200, steps: int = 20,
                         seed: int = 0, scorer_steps: int = 1500) -> str:
    """Score the shipped miniature with the scoring models of ``scorers`` (the shipped ones by default; trained
    into a folder that lacks them); returns the DreamBench table and the agreement table."""
    from ..scoring.embedders import ImageEmbedder, ImageTextEmbedder
    from .domain_scorers import train_identity_scorer, train_instruction_scorer

    if not os.path.isdir(scorers.identity_scorer):
        train_identity_scorer(scorers.identity_scorer, steps=scorer_steps, seed=seed)
    if not os.path.isdir(scorers.instruction_scorer):
        train_instruction_scorer(scorers.instruction_scorer, steps=scorer_steps, seed=seed)
    pipeline = miniature_pipeline(SHIPPED)
    scorer = SubjectScorer(ImageEmbedder.from_folder(scorers.identity_scorer),
                           ImageTextEmbedder.from_folder(scorers.instruction_scorer))
    contrasts, table = scorer_agreement(pipeline, scorer, out, cases=cases, steps=steps, seed=seed)
    return f"{table}\n\n{agreement_table(contrasts)}"
