"""A dataset of (reference pictures, instruction, target) triples on disk, in the layout image-editing datasets
commonly ship: a folder with a ``manifest.jsonl``, one JSON object per line,

    {"references": ["refs/0001_a.png", "refs/0001_b.png"], "instruction": "...", "target": "targets/0001.png"}

with 1 to 4 references and paths relative to the folder (an optional ``"id"`` is kept). Rows are read one at a
time, so memory does not grow with the dataset, and shared between processes and data-loader workers by row
number. A bad row is named by its line and field, with the fix; no path may leave the folder (``..`` and absolute
paths are refused; a symlink inside it is followed, as in the model folders).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from .errors import SqueezeError

MANIFEST = "manifest.jsonl"
MAX_REFERENCES = 4
FIELDS = ("references", "instruction", "target")


class ManifestError(SqueezeError):
    """A dataset folder or manifest row that cannot be read."""


@dataclass(frozen=True)
class ManifestRow:
    line: int
    """1-based line of the manifest."""
    references: tuple[str, ...]
    """Absolute paths inside the dataset folder."""
    instruction: str
    target: str
    id: str | None = None


def _inside(root: str, relative, line: int, field: str) -> str:
    if not isinstance(relative, str) or not relative:
        raise ManifestError(f"{MANIFEST} line {line}: '{field}' must be a path relative to the dataset folder, "
                            f"got {relative!r}")
    path = os.path.normpath(os.path.join(root, relative))
    if os.path.isabs(relative) or os.path.commonpath([path, root]) != root:
        raise ManifestError(f"{MANIFEST} line {line}: '{field}' ({relative}) leaves the dataset folder; give a path "
                            f"inside it")
    if not os.path.isfile(path):
        raise ManifestError(f"{MANIFEST} line {line}: '{field}' ({relative}) is not a file in the dataset folder")
    return path


def parse_row(text: str, line: int, root: str) -> ManifestRow:
    """One manifest line, checked: a JSON object with 1-4 references, an instruction and a target, all inside
    ``root`` (an absolute folder)."""
    try:
        entry = json.loads(text)
    except json.JSONDecodeError as error:
        raise ManifestError(f"{MANIFEST} line {line} is not JSON ({error.msg}); write one object per line") from error
    if not isinstance(entry, dict):
        raise ManifestError(f"{MANIFEST} line {line} is a {type(entry).__name__}, not a JSON object")
    missing = [name for name in FIELDS if name not in entry]
    if missing:
        raise ManifestError(f"{MANIFEST} line {line} lacks {', '.join(missing)}; each row needs {', '.join(FIELDS)}")
    references = entry["references"]
    if not isinstance(references, list) or not 1 <= len(references) <= MAX_REFERENCES:
        raise ManifestError(f"{MANIFEST} line {line}: 'references' must be a list of 1 to {MAX_REFERENCES} paths")
    if not isinstance(entry["instruction"], str):
        raise ManifestError(f"{MANIFEST} line {line}: 'instruction' must be a string")
    return ManifestRow(line, tuple(_inside(root, path, line, f"references[{k}]") for k, path in enumerate(references)),
                       entry["instruction"], _inside(root, entry["target"], line, "target"),
                       None if entry.get("id") is None else str(entry["id"]))


def dataset_root(folder: str | os.PathLike) -> str:
    root = os.path.abspath(folder)
    if not os.path.isfile(os.path.join(root, MANIFEST)):
        raise ManifestError(f"{folder} holds no {MANIFEST}; a dataset is a folder with one (see squeeze_core.manifest)")
    return root


def _numbered_lines(root: str) -> Iterator[tuple[int, int, str]]:
    """(row index, 1-based line, text) of each non-blank line of the manifest."""
    with open(os.path.join(root, MANIFEST), encoding="utf-8") as handle:
        index = 0
        for line, text in enumerate(handle, start=1):
            if text.strip():
                yield index, line, text
                index += 1


def manifest_rows(folder: str | os.PathLike, shard: int = 0, shards: int = 1) -> Iterator[ManifestRow]:
    """The rows of shard ``shard`` of ``shards`` (row i belongs to shard i mod shards), checked, one at a time;
    blank lines are skipped and not counted as rows."""
    root = dataset_root(folder)
    for index, line, text in _numbered_lines(root):
        if index % shards == shard:
            yield parse_row(text, line, root)


def count_rows(folder: str | os.PathLike) -> int:
    count = sum(1 for _ in _numbered_lines(dataset_root(folder)))
    if count == 0:
        raise ManifestError(f"{MANIFEST} in {folder} has no rows")
    return count


def cycled_rows(folder: str | os.PathLike, start: int, stride: int) -> Iterator[tuple[int, ManifestRow]]:
    """Endless (position, row) for positions start, start + stride, ... of the dataset read epoch after epoch
    (position p is row p mod the row count): the training order, one line in memory at a time."""
    root = dataset_root(folder)
    rows = count_rows(root)
    epoch = start // rows
    while True:
        for index, line, text in _numbered_lines(root):
            position = epoch * rows + index
            if position >= start and (position - start) % stride == 0:
                yield position, parse_row(text, line, root)
        epoch += 1


def validate_manifest(folder: str | os.PathLike, open_pictures: bool = True) -> int:
    """Check every row (and, with ``open_pictures``, that each picture opens); the number of rows. Raises on the
    first bad one."""
    for row in manifest_rows(folder):
        if open_pictures:
            for path in (*row.references, row.target):
                read_picture(path, row.line)
    return count_rows(folder)


def read_picture(path: str, line: int) -> torch.Tensor:
    """uint8 [3, H, W] of one picture (RGB; any mode PIL reads is converted)."""
    try:
        with Image.open(path) as image:
            pixels = np.array(image.convert("RGB"))
    except (OSError, ValueError) as error:
        raise ManifestError(f"{MANIFEST} line {line}: {os.path.basename(path)} is not a picture PIL can read") from error
    return torch.from_numpy(pixels).permute(2, 0, 1).contiguous()


class ManifestDataset(torch.utils.data.IterableDataset):
    """The rows of a dataset folder as samples {"references": [uint8 [3, H, W], ...], "instruction": str,
    "target": uint8 [3, H, W], "line": int}, streamed; each process (``rank`` of ``world``) and each data-loader
    worker reads its own share of the rows."""

    def __init__(self, folder: str | os.PathLike, rank: int = 0, world: int = 1):
        self.root = dataset_root(folder)
        self.rank, self.world = rank, world

    def __iter__(self) -> Iterator[dict]:
        info = torch.utils.data.get_worker_info()
        workers, worker = (1, 0) if info is None else (info.num_workers, info.id)
        for row in manifest_rows(self.root, self.rank * workers + worker, self.world * workers):
            yield {"references": [read_picture(path, row.line) for path in row.references],
                   "instruction": row.instruction, "target": read_picture(row.target, row.line), "line": row.line}
