"""Datasets on disk in the manifest format: the miniature's cases written out by the CLI and streamed back
pixel for pixel, every row read once however processes and workers share them, and each bad row named by its
line and field with the fix."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from squeeze_core.cli import main
from squeeze_core.manifest import MANIFEST, ManifestDataset, ManifestError, manifest_rows, validate_manifest
from squeeze_core.miniature.case_data import draw_split
from squeeze_core.miniature.domain.cases import render_case

CASES = 24


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> str:
    folder = str(tmp_path_factory.mktemp("dataset"))
    main(["export-dataset", "--out", folder, "--cases", str(CASES), "--split", "held_out", "--seed", "3"])
    return folder


def test_the_exported_cases_stream_back_exactly(dataset):
    cases = draw_split(CASES, "held_out", 3)
    samples = list(ManifestDataset(dataset))
    assert len(samples) == CASES and any(len(sample["references"]) == 2 for sample in samples)
    for sample, case in zip(samples, cases):
        pictures, target, _ = render_case(case)
        assert sample["instruction"] == case.instruction.text
        assert np.array_equal(sample["target"].permute(1, 2, 0).numpy(), target)
        assert all(np.array_equal(got.permute(1, 2, 0).numpy(), want)
                   for got, want in zip(sample["references"], pictures, strict=True))


def test_processes_and_workers_read_each_row_once(dataset):
    lines = []
    for rank in range(2):
        loader = torch.utils.data.DataLoader(ManifestDataset(dataset, rank=rank, world=2), batch_size=None,
                                             num_workers=2)
        lines += [sample["line"] for sample in loader]
    assert sorted(lines) == list(range(1, CASES + 1))


def _folder_with(tmp_path, rows: list, files=("a.png", "t.png")) -> str:
    for name in files:
        (tmp_path / name).write_bytes(b"")
    (tmp_path / MANIFEST).write_text("\n".join(row if isinstance(row, str) else json.dumps(row) for row in rows))
    return str(tmp_path)


GOOD = {"references": ["a.png"], "instruction": "put it on sand", "target": "t.png"}


@pytest.mark.parametrize("row, message", [
    ("{not json", "line 2 is not JSON"),
    ("[1, 2]", "line 2 is a list, not a JSON object"),
    ({"references": ["a.png"], "target": "t.png"}, "line 2 lacks instruction"),
    ({**GOOD, "references": []}, "line 2: 'references' must be a list of 1 to 4"),
    ({**GOOD, "references": ["a.png"] * 5}, "line 2: 'references' must be a list of 1 to 4"),
    ({**GOOD, "instruction": 3}, "line 2: 'instruction' must be a string"),
    ({**GOOD, "target": "../t.png"}, "line 2: 'target' \\(../t.png\\) leaves the dataset folder"),
    ({**GOOD, "references": ["/etc/passwd"]}, "line 2: 'references\\[0\\]' \\(/etc/passwd\\) leaves"),
    ({**GOOD, "target": "missing.png"}, "line 2: 'target' \\(missing.png\\) is not a file"),
])
def test_a_bad_row_is_named_by_its_line_and_field(tmp_path, row, message):
    folder = _folder_with(tmp_path, [GOOD, row])
    with pytest.raises(ManifestError, match=message):
        list(manifest_rows(folder))


def test_a_picture_that_does_not_open_and_a_folder_without_a_manifest_are_refused(tmp_path):
    with pytest.raises(ManifestError, match="line 1: a.png is not a picture"):
        validate_manifest(_folder_with(tmp_path, [GOOD]))
    with pytest.raises(ManifestError, match="holds no manifest.jsonl"):
        validate_manifest(tmp_path / "nothing")


def test_the_cli_validates_what_it_wrote(dataset, capsys, tmp_path):
    main(["export-dataset", "--out", str(tmp_path), "--cases", "3"])
    assert capsys.readouterr().out.strip() == f"3 rows in {tmp_path}"
    assert len(os.listdir(tmp_path / "targets")) == 3
