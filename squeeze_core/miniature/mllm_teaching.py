"""The miniature's MLLM taught the domain: it learns to describe a picture (the subject's colours, texture and
shape, then where and how it stands), so its hidden states carry what the diffusion model needs. It is then
frozen, as the paper freezes its MLLM."""

from __future__ import annotations

import torch

from .domain_data import DomainDataset
from ..joint_encoder import JointEncoder
from .scenes import REFERENCE_LAYOUT, all_instructions
from .subjects import all_subjects
from ..tiny_models import build_tiny_mllm_parts
from .loop import train
from .spec import MiniatureSpec

QUESTION = "describe the picture"
END = "<|im_end|>"


def answer(sample_identity, instruction) -> str:
    return f"{sample_identity.description}: {instruction.text}"


def domain_corpus() -> list[str]:
    """The words of the domain, so the tokenizer's merges cover them."""
    return [QUESTION, *(identity.description for identity in all_subjects()),
            *(instruction.text for instruction in all_instructions())]


def _pictures_and_answers(data: DomainDataset, indices: torch.Tensor) -> tuple[list[torch.Tensor], list[str]]:
    """Even positions show the reference (its own layout), odd ones the instructed scene."""
    pictures, answers = [], []
    for position, index in enumerate(indices.tolist()):
        sample = data.samples[index]
        if position % 2:
            pictures.append(data.targets[index])
            answers.append(answer(sample.subject, sample.instruction))
        else:
            pictures.append(data.references[index])
            answers.append(answer(sample.subject, REFERENCE_LAYOUT))
    return [picture.float() / 255.0 for picture in pictures], answers


def _labels(inputs: dict, answers: list[str], tokenizer) -> torch.Tensor:
    """Next-token targets on the answer tokens only (right padding: they end each row's real tokens)."""
    labels = torch.full_like(inputs["input_ids"], -100)
    lengths = inputs["attention_mask"].sum(dim=1).tolist()
    for row, (length, text) in enumerate(zip(lengths, answers)):
        count = len(tokenizer(text + END, add_special_tokens=False)["input_ids"])
        labels[row, length - count:length] = inputs["input_ids"][row, length - count:length]
    return labels


def teach_mllm(accelerator, data: DomainDataset, spec: MiniatureSpec, *, steps: int, batch: int = 32,
               learning_rate: float = 2e-3) -> JointEncoder:
    model, processor = build_tiny_mllm_parts(spec.mllm, domain_corpus())
    budget = spec.vision_resolution**2
    encoder = JointEncoder(model, processor, vision_pixel_budget=budget)

    def loss(indices: torch.Tensor, step: int, modules: list[torch.nn.Module]) -> torch.Tensor:
        (trained,) = modules
        processor.tokenizer.padding_side = "right"
        pictures, answers = _pictures_and_answers(data, indices)
        texts = [encoder.prompt_format.render(QUESTION, 1, encoder.image_placeholder) + text + END
                 for text in answers]
        inputs = encoder.model_inputs(texts, encoder.vision_inputs([torch.stack(pictures)], len(texts), budget),
                                      budget)
        return trained(**inputs, labels=_labels(inputs, answers, processor.tokenizer)).loss

    (model,) = train(accelerator, [model], loss, size=len(data), batch=batch, steps=steps,
                     learning_rate=learning_rate, label="mllm", seed=spec.seed, weight_decay=0.01)
    model.requires_grad_(False)
    return JointEncoder(model, processor, vision_pixel_budget=budget)

