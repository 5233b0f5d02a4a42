"""Where the miniature's files live, in ComfyUI's model folder names, and the trained copy that ships with the
pack: what the nodes list and the README's main command runs. No training code here."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

MLLM_FOLDER = "squeeze-miniature-mllm"
DLA_FILE = "squeeze_miniature_dla.safetensors"
DIFFUSION_FILE = "squeeze_miniature_dit.safetensors"
VAE_FILE = "squeeze_miniature_vae.safetensors"
IDENTITY_SCORER = "dino-miniature"
INSTRUCTION_SCORER = "clip-miniature"
"""Scoring models trained on the domain's pictures (``miniature/domain_scorers.py``), in ComfyUI's squeeze_scorers."""


@dataclass(frozen=True)
class MiniatureFiles:
    """Where the miniature's files live, in ComfyUI's model folder names."""

    root: str
    mllm: str = field(init=False)
    dla: str = field(init=False)
    diffusion: str = field(init=False)
    vae: str = field(init=False)
    identity_scorer: str = field(init=False)
    instruction_scorer: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "mllm", os.path.join(self.root, "mllm", MLLM_FOLDER))
        object.__setattr__(self, "dla", os.path.join(self.root, "squeeze_dla", DLA_FILE))
        object.__setattr__(self, "diffusion", os.path.join(self.root, "diffusion_models", DIFFUSION_FILE))
        object.__setattr__(self, "vae", os.path.join(self.root, "vae", VAE_FILE))
        object.__setattr__(self, "identity_scorer", os.path.join(self.root, "squeeze_scorers", IDENTITY_SCORER))
        object.__setattr__(self, "instruction_scorer", os.path.join(self.root, "squeeze_scorers", INSTRUCTION_SCORER))

    @property
    def exists(self) -> bool:
        return all(os.path.exists(path) for path in (self.mllm, self.dla, self.diffusion, self.vae))


SHIPPED = MiniatureFiles(os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights"))
"""The trained miniature that comes with the pack (what the README's main command runs)."""
