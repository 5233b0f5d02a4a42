"""What a DLA training run is: every knob, with the paper's choices as defaults where it reports them, written
beside the checkpoints so a resumed run can refuse to continue under other settings."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import Callable

from ..errors import SqueezeError

TRANSFORMER_MODES = ("lora", "full", "frozen")
PRECISIONS = ("no", "bf16")
ATTENTION_LORA_TARGETS = ("to_q", "to_k", "to_v", "to_out.0", "add_q_proj", "add_k_proj", "add_v_proj",
                          "to_add_out")
"""The attention projections of each Qwen-Image or FLUX.1 block (image and text streams; a FLUX single block's
query, key and value), as LoRA trainers target them."""


class TrainingSettingsError(SqueezeError):
    """Settings a run cannot use, or a resume under settings other than the run's."""


@dataclass(frozen=True)
class RecipeStage:
    name: str
    steps: int
    reference_rate: float
    """Share of samples whose reference VAE latents the transformer sees (drawn per reference)."""
    semantic_drop_rate: float
    """Share of samples whose context loses the MLLM's image tokens, so every phase of a schedule is trained."""

    def draw_streams(self, uniform: Callable[[], float], references: int) -> tuple[bool, tuple[bool, ...]]:
        """Whether a sample (or batch) loses the MLLM's image tokens, and which of its references it keeps, drawn in
        that order from ``uniform`` (0..1)."""
        return uniform() < self.semantic_drop_rate, tuple(uniform() < self.reference_rate for _ in range(references))


@dataclass(frozen=True)
class TrainingSettings:
    stage1_steps: int = 25000
    """MLLM conditioning alone (the paper: about 25k steps)."""
    stage2_steps: int = 10000
    """MLLM and VAE identity together (the paper: about 10k)."""
    reference_rate: float = 0.85
    semantic_drop_rate: float = 0.15
    instruction_drop_rate: float = 0.1
    """Share of samples trained with an empty instruction, the unconditional branch of classifier-free guidance."""
    learning_rate: float = 1e-4
    warmup_steps: int = 100
    weight_decay: float = 0.01
    accumulation: int = 1
    """Samples per process per optimiser step; the global batch is processes x accumulation."""
    transformer: str = "lora"
    lora_rank: int = 16
    lora_alpha: float = 16.0
    lora_targets: tuple[str, ...] = ATTENTION_LORA_TARGETS
    mixed_precision: str = "no"
    gradient_checkpointing: bool = False
    resolution: int = 1024
    """Target and references are resized to about resolution² pixels (sides on the transformer's 16-pixel grid)."""
    vision_resolution: int = 384
    """The MLLM sees each reference at about vision_resolution² pixels."""
    layers: tuple[int, ...] | None = None
    """MLLM layers the DLA pools (None: all, embedding output to the final-normed last layer)."""
    dla_pool_dim: int = 256
    dla_pool_heads: int = 4
    seed: int = 0
    checkpoint_every: int = 500
    max_grad_norm: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "lora_targets", tuple(self.lora_targets))
        if self.layers is not None:
            object.__setattr__(self, "layers", tuple(int(layer) for layer in self.layers))
        if self.transformer not in TRANSFORMER_MODES:
            raise TrainingSettingsError(f"transformer is one of {TRANSFORMER_MODES}, not {self.transformer!r}")
        if self.mixed_precision not in PRECISIONS:
            raise TrainingSettingsError(f"mixed precision is one of {PRECISIONS}, not {self.mixed_precision!r}")
        if min(self.stage1_steps, self.stage2_steps) < 0 or self.steps < 1:
            raise TrainingSettingsError("give each stage zero or more steps, and the run at least one")
        for name in ("reference_rate", "semantic_drop_rate", "instruction_drop_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise TrainingSettingsError(f"{name} is a share between 0 and 1, not {getattr(self, name)}")
        if self.accumulation < 1 or self.checkpoint_every < 1 or self.lora_rank < 1:
            raise TrainingSettingsError("accumulation, checkpoint_every and lora_rank are at least 1")
        if self.resolution < 16 or self.vision_resolution < 16:
            raise TrainingSettingsError("resolution and vision_resolution are at least 16 pixels")

    @property
    def steps(self) -> int:
        return self.stage1_steps + self.stage2_steps

    @property
    def stages(self) -> tuple[RecipeStage, ...]:
        return (RecipeStage("stage 1: MLLM conditioning", self.stage1_steps, 0.0, 0.0),
                RecipeStage("stage 2: MLLM + VAE identity", self.stage2_steps, self.reference_rate,
                            self.semantic_drop_rate))

    def stage_at(self, step: int) -> RecipeStage:
        return self.stages[0] if step < self.stage1_steps else self.stages[1]

    def learning_rate_at(self, step: int) -> float:
        """Linear warm-up, then constant: a function of the step alone, so a resumed run needs no scheduler state."""
        return self.learning_rate * min(1.0, (step + 1) / max(1, self.warmup_steps))

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> TrainingSettings:
        return cls(**json.loads(text))

    def differences(self, other: TrainingSettings) -> list[str]:
        """The settings that differ, apart from how often checkpoints are written."""
        return [field.name for field in fields(self)
                if field.name != "checkpoint_every" and getattr(self, field.name) != getattr(other, field.name)]
