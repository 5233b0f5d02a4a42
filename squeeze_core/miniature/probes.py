"""The checks that the three-grain domain does what it claims, before any diffusion training: the VAE carries the
fine bits through encode and decode, and the MLLM's features do not carry them (its view averages them away)
while they do carry the mid bits; and the taught MLLM names what it was taught (each subject's place, shape and
palette). All on held-out subjects, whose fine codes training never saw."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .domain.cases import Case, render_case
from .domain.scenes import Pose, read_description, render
from .domain.scoring import score_case
from .domain.subjects import FINE_BITS, MID_BITS, Subject, bits, split_subjects
from ..intervals import proportion
from .mllm_teaching import QUESTION, question_prompt
from ..features import TokenRole
from ..images import from_vae_range
from ..joint_encoder import JointEncoder

PROBE_POSE = Pose("middle centre", 0)
PROBE_GROUND = "grey"


@dataclass(frozen=True)
class ProbeResult:
    grain: str
    accuracy: float
    low: float
    high: float
    bits: int
    """How many were read: bits, or subjects for the description probe."""
    unit: str = "bits"

    def line(self) -> str:
        return (f"{self.grain}: {self.accuracy:.3f} (95% interval {self.low:.3f}-{self.high:.3f}, {self.bits} "
                f"{self.unit})")


def _result(grain: str, correct: int, total: int, unit: str = "bits") -> ProbeResult:
    rate = proportion(correct, total)
    return ProbeResult(grain, rate.value, rate.low, rate.high, total, unit)


@torch.no_grad()
def vae_probe(vae, cases: list[Case]) -> list[ProbeResult]:
    """Mid and fine bits read exactly from each target after the VAE's encode and decode (posterior mean)."""
    from .vae_training import to_vae_pixels

    counts = {"mid": MID_BITS, "fine": FINE_BITS}
    correct, total = dict.fromkeys(counts, 0.0), dict.fromkeys(counts, 0)
    for case in cases:
        target = torch.from_numpy(render_case(case)[1]).permute(2, 0, 1)[None]
        decoded = vae.decode(vae.encode(to_vae_pixels(target)).latent_dist.mean).sample[:, :, 0]
        picture = from_vae_range(decoded)[0]
        scores = score_case(picture, case)
        for grain, count in counts.items():
            correct[grain] += scores[grain] * count * len(case.subjects)
            total[grain] += count * len(case.subjects)
    return [_result(grain, round(correct[grain]), total[grain]) for grain in counts]


@torch.no_grad()
def image_token_features(encoder: JointEncoder, subjects: list[Subject], layer: int, chunk: int = 64) -> np.ndarray:
    """[N, tokens * D]: one MLLM layer's states of the image tokens of each subject, upright in the middle."""
    rows = []
    for start in range(0, len(subjects), chunk):
        pictures = np.stack([render([subject], [PROBE_POSE], PROBE_GROUND)[0]
                             for subject in subjects[start:start + chunk]])
        features = encoder.encode(QUESTION, [torch.from_numpy(pictures)], layers=[layer])
        image = features.roles[0] >= TokenRole.IMAGE
        rows.append(features.hidden_states[0][:, image].flatten(1).float().numpy())
    return np.concatenate(rows)


def _mlp_probe(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, steps: int = 400) -> np.ndarray:
    """A one-hidden-layer probe, so bits the features carry non-linearly still count as carried."""
    generator = torch.Generator().manual_seed(0)
    mean, spread = train_x.mean(0), train_x.std(0) + 1e-6
    x, y = torch.from_numpy((train_x - mean) / spread).float(), torch.from_numpy(train_y).float()
    hidden = torch.nn.Linear(x.shape[1], 256)
    out = torch.nn.Linear(256, y.shape[1])
    for layer in (hidden, out):
        torch.nn.init.normal_(layer.weight, std=layer.in_features**-0.5, generator=generator)
        torch.nn.init.zeros_(layer.bias)
    model = torch.nn.Sequential(hidden, torch.nn.GELU(), out)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
    for _ in range(steps):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        return (model(torch.from_numpy((test_x - mean) / spread).float()) > 0).numpy()


def mllm_probe(encoder: JointEncoder, layer: int, train: int = 2000, held_out: int = 1000) -> list[ProbeResult]:
    """Mid and fine bits predicted from one layer's image-token states by a probe fitted on training subjects
    and scored on held-out ones: chance is 0.5."""
    training, holding = split_subjects()
    train_x = image_token_features(encoder, training[:train], layer)
    test_x = image_token_features(encoder, holding[:held_out], layer)
    results = []
    for grain, count in (("mid", MID_BITS), ("fine", FINE_BITS)):
        train_y = np.stack([bits(getattr(subject, grain), count) for subject in training[:train]])
        test_y = np.stack([bits(getattr(subject, grain), count) for subject in holding[:held_out]])
        hits = _mlp_probe(train_x, train_y, test_x) == test_y
        results.append(_result(f"{grain} (layer {layer})", int(hits.sum()), hits.size))
    return results


@torch.no_grad()
def describe_cases(encoder: JointEncoder, cases: list[Case], chunk: int = 25) -> list[str]:
    """What the taught MLLM says of each case's target picture (greedy decoding)."""
    tokenizer = encoder.processor.tokenizer
    budget = encoder.vision_pixel_budget
    padding, tokenizer.padding_side = tokenizer.padding_side, "left"
    answers = []
    try:
        for start in range(0, len(cases), chunk):
            batch = cases[start:start + chunk]
            pictures = torch.stack([torch.from_numpy(render_case(case)[1]).permute(2, 0, 1).float() / 255.0
                                    for case in batch])
            texts = [question_prompt(encoder)] * len(batch)
            inputs = encoder.model_inputs(texts, encoder.vision_inputs([pictures], len(batch), budget), budget)
            tokens = encoder.model.generate(**inputs, max_new_tokens=64, do_sample=False)
            answers += tokenizer.batch_decode(tokens[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
    finally:
        tokenizer.padding_side = padding
    return answers


def description_scores(answers: list[str], cases: list[Case]) -> list[ProbeResult]:
    """The share of subjects whose row, column, shape and ordered palette the descriptions name rightly, each
    subject read against the one described in its place in the sentence (a missing one counts as wrong)."""
    names = ("row", "column", "shape", "palette")
    correct, total = dict.fromkeys(names, 0), 0
    for answer, case in zip(answers, cases):
        described = read_description(answer)
        for k, (subject, pose) in enumerate(zip(case.subjects, case.target_poses)):
            total += 1
            if k >= len(described):
                continue
            primary, secondary, shape, row, column = described[k]
            truth_row, truth_column = pose.position.split(" ")
            correct["row"] += row == truth_row
            correct["column"] += column == truth_column
            correct["shape"] += shape == subject.shape
            correct["palette"] += (primary, secondary) == (subject.primary, subject.secondary)
    return [_result(name, correct[name], total, "subjects") for name in names]
