"""Scoring models for the miniature's domain, trained here in minutes: no DINO or CLIP weights can be had
on these machines, and random ones score plumbing only. A ViT (transformers ``ViTModel``, read by its class
token as DINO is) learns that a subject's reference and any scene of it belong together; a CLIP (``CLIPModel``)
learns which instruction a scene shows. Both are written as Hugging Face folders, so ``evaluate-dla`` and Squeeze
Rank by Subject read them exactly as they read dino-vits16 and CLIP."""

from __future__ import annotations

import logging
import os
import random

import numpy as np
import torch

from ..scoring.embedders import projected
from ..seeding import seeded
from ..tiny_models import build_tiny_tokenizer
from .case_data import draw_split
from .domain.cases import render_case
from .domain.scenes import BACKGROUNDS, POSITIONS, Pose, render
from .domain.subjects import Subject, split_subjects

logger = logging.getLogger("squeeze.training")
SIDE, PATCH, WIDTH = 64, 8, 64
TEMPERATURE = 0.1


def _vision() -> dict:
    return dict(hidden_size=WIDTH, intermediate_size=2 * WIDTH, num_hidden_layers=4, num_attention_heads=4,
                image_size=SIDE, patch_size=PATCH)


def _pixels(images: list[np.ndarray]) -> torch.Tensor:
    """uint8 [H, W, 3] pictures as the ViT image processors give them: [B, 3, H, W], mean and std 0.5."""
    return (torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 255.0 - 0.5) / 0.5


def _contrastive(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE: row i of ``a`` belongs with row i of ``b``."""
    logits = torch.nn.functional.normalize(a, dim=-1) @ torch.nn.functional.normalize(b, dim=-1).T / TEMPERATURE
    labels = torch.arange(len(a))
    return (torch.nn.functional.cross_entropy(logits, labels) + torch.nn.functional.cross_entropy(logits.T, labels)) / 2


def _train(parameters, loss, steps: int, label: str) -> None:
    optimizer = torch.optim.AdamW(parameters, lr=1e-3, weight_decay=0.01)
    for step in range(steps):
        value = loss(step)
        optimizer.zero_grad(set_to_none=True)
        value.backward()
        optimizer.step()
        if (step + 1) % 100 == 0 or step + 1 == steps:
            logger.info("%s step %d/%d loss %.4f", label, step + 1, steps, value.item())


def _picture(subject: Subject, rng: random.Random) -> np.ndarray:
    """The subject alone at a random place, turn and ground."""
    pose = Pose(rng.choice(POSITIONS), rng.randrange(4))
    return render([subject], [pose], rng.choice(sorted(BACKGROUNDS)))[0]


def train_identity_scorer(folder: str | os.PathLike, steps: int = 600, batch: int = 48, seed: int = 0) -> str:
    """A DINO stand-in: the class tokens of two pictures of one subject (each at its own place, turn and ground)
    meet, those of different subjects part."""
    from transformers import ViTConfig, ViTImageProcessor, ViTModel

    train, _ = split_subjects()
    rng = random.Random(f"identity-scorer-{seed}")
    with seeded(seed):
        model = ViTModel(ViTConfig(**_vision()))

    def loss(step: int) -> torch.Tensor:
        subjects = rng.sample(train, batch)
        embed = lambda images: model(pixel_values=_pixels(images)).last_hidden_state[:, 0]  # noqa: E731
        return _contrastive(embed([_picture(subject, rng) for subject in subjects]),
                            embed([_picture(subject, rng) for subject in subjects]))

    with seeded(seed + 1):
        _train(model.parameters(), loss, steps, "identity scorer")
    folder = os.fspath(folder)
    model.save_pretrained(folder, safe_serialization=True)
    ViTImageProcessor(size={"height": SIDE, "width": SIDE}).save_pretrained(folder)
    return folder


def train_instruction_scorer(folder: str | os.PathLike, steps: int = 600, batch: int = 48, seed: int = 0,
                             cases: int = 4000) -> str:
    """A CLIP stand-in: a training case's target embedding meets its instruction's text embedding, others part.
    Half the captions name the subjects too ("a cyan and blue corner, put it ..."), as photo captions name what
    they show, so the image embedding carries the subject as well as the layout."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    drawn = draw_split(cases, "train", seed)
    targets = [render_case(case)[1] for case in drawn]
    named = [" and ".join(subject.description for subject in case.subjects) for case in drawn]
    tokenizer = build_tiny_tokenizer(384, [case.instruction.text for case in drawn] + named)
    text = dict(vocab_size=len(tokenizer), hidden_size=WIDTH, intermediate_size=2 * WIDTH, num_hidden_layers=2,
                num_attention_heads=4, max_position_embeddings=77, eos_token_id=tokenizer.eos_token_id,
                pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.pad_token_id)
    rng = random.Random(f"instruction-scorer-{seed}")
    with seeded(seed):
        model = CLIPModel(CLIPConfig(text_config=text, vision_config=_vision(), projection_dim=WIDTH))

    def loss(step: int) -> torch.Tensor:
        chosen = rng.sample(range(len(drawn)), batch)
        captions = [f"{named[k]}, {drawn[k].instruction.text}" if rng.random() < 0.5 else drawn[k].instruction.text
                    for k in chosen]
        tokens = tokenizer(captions, padding=True, return_tensors="pt")
        images = model.get_image_features(pixel_values=_pixels([targets[k] for k in chosen]))
        texts = model.get_text_features(input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"])
        return _contrastive(projected(images), projected(texts))

    with seeded(seed + 1):
        _train(model.parameters(), loss, steps, "instruction scorer")
    folder = os.fspath(folder)
    model.save_pretrained(folder, safe_serialization=True)
    CLIPImageProcessor(size={"shortest_edge": SIDE}, crop_size={"height": SIDE, "width": SIDE},
                       image_mean=[0.5] * 3, image_std=[0.5] * 3).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
