"""The miniature's domain written out as a dataset folder in the manifest format (squeeze_core.manifest), so the
general data path is tested on data whose exact answers are known."""

from __future__ import annotations

import json
import os

from PIL import Image

from ..manifest import MANIFEST
from .domain.cases import Case, render_case


def write_dataset(folder: str | os.PathLike, cases: list[Case]) -> int:
    """Each case's reference pictures and target as PNG files under ``folder`` and one manifest row per case
    (``id``: the case's index); returns the number of rows."""
    for part in ("references", "targets"):
        os.makedirs(os.path.join(folder, part), exist_ok=True)
    with open(os.path.join(folder, MANIFEST), "w", encoding="utf-8") as manifest:
        for index, case in enumerate(cases):
            pictures, target, _ = render_case(case)
            references = [f"references/{index:06d}_{k + 1}.png" for k in range(len(pictures))]
            for path, picture in zip(references, pictures):
                Image.fromarray(picture).save(os.path.join(folder, path))
            Image.fromarray(target).save(os.path.join(folder, f"targets/{index:06d}.png"))
            row = {"id": str(index), "references": references, "instruction": case.instruction.text,
                   "target": f"targets/{index:06d}.png"}
            manifest.write(json.dumps(row) + "\n")
    return len(cases)
