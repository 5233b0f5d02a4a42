"""DreamBench's three figures for each generated image, and a copy-paste score:

- ``dino``: cosine similarity of DINO class tokens, result against each reference (mean over references);
- ``clip_i``: the same with CLIP (or SigLIP) image embeddings;
- ``clip_t``: CLIP similarity of the result to the instruction;
- ``copy_paste``: DINO similarity to the reference minus similarity to the paired ground truth (where a
  dataset has one): above 0, the result is nearer the reference picture than the image it should have been.

``rank`` orders a batch by identity and instruction together, each standardised within the batch so the
weights say how much each counts, not which figure has the wider spread."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..images import ImageLike
from .embedders import ImageEmbedder, ImageTextEmbedder

FIGURES = ("dino", "clip_i", "clip_t", "copy_paste")


@dataclass
class SubjectScores:
    dino: torch.Tensor  # [N]
    clip_i: torch.Tensor  # [N]
    clip_t: torch.Tensor  # [N]
    copy_paste: torch.Tensor | None = None  # [N], with a ground truth

    def row(self, index: int) -> dict[str, float]:
        figures = {"dino": self.dino, "clip_i": self.clip_i, "clip_t": self.clip_t, "copy_paste": self.copy_paste}
        return {name: float(values[index]) for name, values in figures.items() if values is not None}


class SubjectScorer:
    def __init__(self, identity: ImageEmbedder, image_text: ImageTextEmbedder):
        self.identity, self.image_text = identity, image_text

    def score(self, results: list[ImageLike], references: list[ImageLike], instruction: str,
              target: ImageLike | None = None) -> SubjectScores:
        """Each result (a frame of ``results``) against every reference, the instruction and the target."""
        dino_results = self.identity.images(results)
        dino = (dino_results @ self.identity.images(references).T).mean(dim=1)
        clip_results = self.image_text.images(results)
        copy_paste = None if target is None else dino - (dino_results @ self.identity.images([target]).T)[:, 0]
        return SubjectScores(dino=dino,
                             clip_i=(clip_results @ self.image_text.images(references).T).mean(dim=1),
                             clip_t=(clip_results @ self.image_text.texts([instruction]).T)[:, 0],
                             copy_paste=copy_paste)


def _standardised(values: torch.Tensor) -> torch.Tensor:
    spread = values.std(unbiased=False)
    return torch.zeros_like(values) if spread <= 1e-12 else (values - values.mean()) / spread


def rank(scores: SubjectScores, identity_weight: float = 1.0, instruction_weight: float = 1.0) -> torch.Tensor:
    """Indices of the batch, best first: identity_weight x DINO + instruction_weight x CLIP-T, standardised."""
    combined = identity_weight * _standardised(scores.dino) + instruction_weight * _standardised(scores.clip_t)
    return torch.argsort(combined, descending=True, stable=True)
