"""The issue-13 diagnostic script's probes line up with their labels: on the shipped miniature, the MLLM's
embedding layer (the position words themselves) reads the instructed row and column perfectly."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.harness.recipe_runs import ENVIRONMENT, ROOT


def test_the_probe_reads_the_position_words_from_the_embedding_layer():
    finished = subprocess.run([sys.executable, "scripts/position_word_diagnostic.py", "probe",
                               "squeeze_core/miniature/weights"], cwd=ROOT, env=ENVIRONMENT, capture_output=True,
                              text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr[-3000:]
    found = re.search(r"MLLM layer 0, mean\s+row ([\d.]+)\s+column ([\d.]+)", finished.stdout)
    assert found, finished.stdout
    assert float(found[1]) >= 0.95 and float(found[2]) >= 0.95
    assert "DLA context, first" in finished.stdout
