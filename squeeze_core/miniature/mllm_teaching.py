"""The miniature's MLLM taught the domain: shown one picture, it learns to describe it in coarse words (each
subject's palette, shape, turn and place, and the ground), so its hidden states carry what the diffusion
model needs. It is never taught the mid or fine bits. It is then frozen, as the paper freezes its MLLM."""

from __future__ import annotations

import random

import torch

from .case_data import CaseData, draw_split
from .domain.scenes import describe
from ..joint_encoder import JointEncoder
from ..tiny_models import build_tiny_mllm_parts
from .loop import train
from .spec import MiniatureSpec

QUESTION = "describe the picture"
END = "<|im_end|>"
CORPUS_CASES = 2000


def domain_corpus() -> list[str]:
    """The words of the domain (instructions and descriptions), so the tokenizer's merges cover them."""
    texts = [QUESTION]
    for case in draw_split(CORPUS_CASES, "train", seed=99):
        texts.append(case.instruction.text)
        texts.append(describe(list(case.subjects), list(case.target_poses), case.instruction.background))
    return texts


def question_prompt(encoder: JointEncoder) -> str:
    """The chat text the MLLM is taught with: one picture and the question; its answer follows."""
    return encoder.prompt_format.render(QUESTION, 1, encoder.image_placeholder)


def pictures_and_answers(data: CaseData, indices: torch.Tensor, chooser: random.Random
                         ) -> tuple[list[torch.Tensor], list[str]]:
    """For each case one of its pictures, the target or a reference with equal odds, and its description."""
    pictures, answers = [], []
    for index in indices.tolist():
        slot = chooser.randrange(-1, int(data.reference_counts[index]))
        if slot < 0:
            pictures.append(data.targets[index])
            answers.append(data.target_description(index))
        else:
            pictures.append(data.references[index, slot])
            answers.append(data.reference_descriptions(index)[slot])
    return [picture.float() / 255.0 for picture in pictures], answers


def _labels(inputs: dict, answers: list[str], tokenizer) -> torch.Tensor:
    """Next-token targets on the answer tokens only (right padding: they end each row's real tokens)."""
    labels = torch.full_like(inputs["input_ids"], -100)
    lengths = inputs["attention_mask"].sum(dim=1).tolist()
    for row, (length, text) in enumerate(zip(lengths, answers)):
        count = len(tokenizer(text + END, add_special_tokens=False)["input_ids"])
        labels[row, length - count:length] = inputs["input_ids"][row, length - count:length]
    return labels


def teach_mllm(accelerator, data: CaseData, spec: MiniatureSpec, *, steps: int, batch: int = 32,
               learning_rate: float = 2e-3) -> JointEncoder:
    model, processor = build_tiny_mllm_parts(spec.mllm, domain_corpus())
    budget = spec.vision_resolution**2
    encoder = JointEncoder(model, processor, vision_pixel_budget=budget)
    chooser = random.Random(f"mllm-{spec.seed}-{accelerator.process_index}")

    def loss(indices: torch.Tensor, step: int, modules: list[torch.nn.Module]) -> torch.Tensor:
        (trained,) = modules
        processor.tokenizer.padding_side = "right"
        pictures, answers = pictures_and_answers(data, indices, chooser)
        texts = [question_prompt(encoder) + text + END
                 for text in answers]
        inputs = encoder.model_inputs(texts, encoder.vision_inputs([torch.stack(pictures)], len(texts), budget),
                                      budget)
        return trained(**inputs, labels=_labels(inputs, answers, processor.tokenizer)).loss

    (model,) = train(accelerator, [model], loss, size=len(data), batch=batch, steps=steps,
                     learning_rate=learning_rate, label="mllm", seed=spec.seed, weight_decay=0.01)
    model.requires_grad_(False)
    return JointEncoder(model, processor, vision_pixel_budget=budget)
