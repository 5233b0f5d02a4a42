"""The scorer-agreement study end to end at tiny size (scoring models trained a few steps, a few cases), and the
rules it rests on: a wrong case changes only what it contrasts, and agreement needs both differences significant
and of one sign."""

from __future__ import annotations

import subprocess
import sys

from squeeze_core.miniature.case_data import with_other_subjects
from squeeze_core.miniature.example import EXAMPLE_SCHEDULE
from squeeze_core.miniature.scorer_agreement import (Contrast, place_cases, run_scorer_agreement,
                                                     wrong_instruction_cases)
from squeeze_core.paired import PairedResult
from tests.harness.recipe_runs import ENVIRONMENT, ROOT


def test_a_wrong_case_changes_only_what_it_contrasts():
    cases = place_cases(60)
    assert len(cases) == 60 and {case.instruction.kind for case in cases} == {"place"}
    for case, wrong in zip(cases, wrong_instruction_cases(cases)):
        assert wrong.instruction != case.instruction and wrong.subjects == case.subjects
        assert wrong.target_poses != case.target_poses or wrong.instruction.background != case.instruction.background
    for case, other in zip(cases, with_other_subjects(cases)):
        assert other.subjects != case.subjects and other.instruction == case.instruction
        assert (other.reference_poses, other.target_poses) == (case.reference_poses, case.target_poses)


def test_agreement_needs_both_differences_significant_and_alike():
    up, down, unclear = (PairedResult(0.3, 0.2, 0.4, 0.001, 50), PairedResult(-0.3, -0.4, -0.2, 0.001, 50),
                         PairedResult(0.3, -0.1, 0.7, 0.2, 50))
    assert Contrast("a", up, up).agrees and not Contrast("b", up, down).agrees
    assert not Contrast("c", up, unclear).agrees and not Contrast("d", unclear, up).agrees


def test_the_study_writes_the_dreambench_table_and_the_contrasts(tmp_path):
    command = [sys.executable, "-m", "squeeze_core", "scorer-agreement", "--scorers", str(tmp_path / "models"),
               "--out", str(tmp_path / "table"), "--cases", "6", "--steps", "2", "--scorer-steps", "3"]
    finished = subprocess.run(command, cwd=ROOT, env=ENVIRONMENT, capture_output=True, text=True, timeout=900)
    assert finished.returncode == 0, finished.stderr[-4000:]
    assert f"| Squeeze miniature ({EXAMPLE_SCHEDULE}) | 6 |" in finished.stdout
    for name in ("identity: DINO", "identity: CLIP-I", "instruction: CLIP-T"):
        assert f"| {name} |" in finished.stdout
    assert (tmp_path / "table" / "scores.csv").read_text().count("\n") == 7
    assert {path.name for path in (tmp_path / "models" / "squeeze_scorers").iterdir()} == {"dino-miniature",
                                                                                          "clip-miniature"}


def test_the_shipped_scorers_agree_with_the_exact_metrics(tmp_path):
    """200 held-out cases of the shipped miniature: DINO, CLIP-I and CLIP-T each favour the true case where the
    exact metrics do, significantly (the figures the README reports)."""
    contrasts_table = run_scorer_agreement(str(tmp_path / "table"))
    rows = [line for line in contrasts_table.splitlines() if line.startswith("| identity:") or
            line.startswith("| instruction:")]
    assert len(rows) == 3 and all(row.endswith("| yes |") for row in rows), contrasts_table
