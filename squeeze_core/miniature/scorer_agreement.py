"""Do DreamBench's figures point the way the miniature's exact metrics do? On held-out cases of the first domain
the shipped miniature's results are scored twice, against the true case and against a wrong one (another held-out
subject's reference, another case's instruction): exact identity (palette, shape and texture all kept), DINO and
CLIP-I must each favour the true subject, exact instruction-following and CLIP-T the true instruction, each by a
paired test on the same images. The DreamBench table of those results is written as ``evaluate-dla`` writes one."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ..paired import PairedResult, mcnemar, paired_bootstrap
from ..pipeline import SqueezePipeline
from ..scoring.subject_scores import SubjectScorer
from ..scoring.sweep import write_scores
from .ablation import DEFAULT_SCHEDULE, miniature_pipeline
from .evaluation import generate, held_out_cases, random_references
from .metrics import identity_kept, instruction_followed
from .scenes import render_reference, render_scene
from .shipped import SHIPPED, MiniatureFiles

SIGNIFICANCE = 0.05


@dataclass(frozen=True)
class Contrast:
    name: str
    exact: PairedResult
    """The exact metric on the true case minus on the wrong one (McNemar)."""
    score: PairedResult
    """The DreamBench figure on the true case minus on the wrong one (paired bootstrap)."""

    @property
    def agrees(self) -> bool:
        """Both differences significant and of one sign."""
        return (self.exact.p_value < SIGNIFICANCE and self.score.p_value < SIGNIFICANCE
                and np.sign(self.exact.difference) == np.sign(self.score.difference))


def _wrong_instructions(cases: list) -> list:
    """For each case the instruction of the next case that asks for something else."""
    wrong = []
    for index, case in enumerate(cases):
        step = 1
        while cases[(index + step) % len(cases)].instruction == case.instruction:
            step += 1
        wrong.append(cases[(index + step) % len(cases)].instruction)
    return wrong


def scorer_agreement(pipeline: SqueezePipeline, scorer: SubjectScorer, out: str, *, cases: int = 200,
                     steps: int = 20, seed: int = 0) -> tuple[list[Contrast], str]:
    """The three contrasts, and the DreamBench table (also written to ``out``) of the true cases."""
    chosen = held_out_cases(cases, seed)
    others = random_references(chosen, seed)
    wrong = _wrong_instructions(chosen)
    images = generate(pipeline, chosen, DEFAULT_SCHEDULE, steps=steps, seed=seed)
    figures = {name: [] for name in ("identity", "other identity", "instruction", "other instruction")}
    true_scores, wrong_scores, records = [], [], []
    for index, (image, case, other, instruction) in enumerate(zip(images, chosen, others, wrong)):
        figures["identity"].append(all(identity_kept(image, case.subject, case.instruction).values()))
        figures["other identity"].append(all(identity_kept(image, other.subject, case.instruction).values()))
        figures["instruction"].append(all(instruction_followed(image, case.instruction).values()))
        figures["other instruction"].append(all(instruction_followed(image, instruction).values()))
        target = render_scene(case.subject, case.instruction)[0]
        true = scorer.score([image], [render_reference(case.subject)[0]], case.instruction.text, target)
        false = scorer.score([image], [render_reference(other.subject)[0]], instruction.text)
        true_scores.append(true.row(0))
        wrong_scores.append(false.row(0))
        records.append({"line": index + 1, "id": str(index), "seed": seed, "instruction": case.instruction.text,
                        **true.row(0)})
    column = lambda rows, name: np.array([row[name] for row in rows])  # noqa: E731
    contrasts = [
        Contrast("identity: DINO", mcnemar(figures["identity"], figures["other identity"]),
                 paired_bootstrap(column(true_scores, "dino"), column(wrong_scores, "dino"))),
        Contrast("identity: CLIP-I", mcnemar(figures["identity"], figures["other identity"]),
                 paired_bootstrap(column(true_scores, "clip_i"), column(wrong_scores, "clip_i"))),
        Contrast("instruction: CLIP-T", mcnemar(figures["instruction"], figures["other instruction"]),
                 paired_bootstrap(column(true_scores, "clip_t"), column(wrong_scores, "clip_t"))),
    ]
    return contrasts, write_scores(records, os.fspath(out), "Squeeze miniature (semantic_first)")


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
    pipeline = miniature_pipeline(SHIPPED, SHIPPED)
    pipeline.set_progress_bar_config(disable=True)
    scorer = SubjectScorer(ImageEmbedder.from_folder(scorers.identity_scorer),
                           ImageTextEmbedder.from_folder(scorers.instruction_scorer))
    contrasts, table = scorer_agreement(pipeline, scorer, out, cases=cases, steps=steps, seed=seed)
    return f"{table}\n\n{agreement_table(contrasts)}"
