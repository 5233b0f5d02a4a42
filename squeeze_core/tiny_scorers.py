"""Tiny, deterministic, random-weight scoring models of the real architectures (DINO's ViT, DINOv2, CLIP, SigLIP),
saved as Hugging Face folders where DINO ViT-S/16 and CLIP would live: tests and stand-ins score with them through the
same ``from_pretrained`` code. Their figures are plumbing, not judgements."""

from __future__ import annotations

import os

from .seeding import seeded
from .tiny_models import build_tiny_tokenizer

SIDE = 64
PATCH = 16


def _vision(width: int = 32) -> dict:
    return dict(hidden_size=width, intermediate_size=2 * width, num_hidden_layers=2, num_attention_heads=4,
                image_size=SIDE, patch_size=PATCH)


def _text(tokenizer, positions: int) -> dict:
    return dict(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                num_attention_heads=4, max_position_embeddings=positions, eos_token_id=tokenizer.eos_token_id,
                pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.pad_token_id)


def _written(folder: str | os.PathLike, model, *parts) -> str:
    """The model (safetensors) and its processor parts saved as one Hugging Face folder."""
    folder = os.fspath(folder)
    model.save_pretrained(folder, safe_serialization=True)
    for part in parts:
        part.save_pretrained(folder)
    return folder


def build_tiny_dino(folder: str | os.PathLike, seed: int = 0) -> str:
    from transformers import ViTConfig, ViTImageProcessor, ViTModel

    with seeded(seed):
        model = ViTModel(ViTConfig(**_vision()))
    return _written(folder, model, ViTImageProcessor(size={"height": SIDE, "width": SIDE}))


def build_tiny_dinov2(folder: str | os.PathLike, seed: int = 0) -> str:
    from transformers import BitImageProcessor, Dinov2Config, Dinov2Model

    with seeded(seed):
        model = Dinov2Model(Dinov2Config(**_vision()))
    return _written(folder, model, BitImageProcessor(size={"shortest_edge": SIDE},
                                                     crop_size={"height": SIDE, "width": SIDE}))


def build_tiny_clip(folder: str | os.PathLike, seed: int = 0) -> str:
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    tokenizer = build_tiny_tokenizer(256)
    with seeded(seed):
        model = CLIPModel(CLIPConfig(text_config=_text(tokenizer, 77), vision_config=_vision(), projection_dim=16))
    processor = CLIPImageProcessor(size={"shortest_edge": SIDE}, crop_size={"height": SIDE, "width": SIDE})
    return _written(folder, model, processor, tokenizer)


def build_tiny_siglip(folder: str | os.PathLike, seed: int = 0) -> str:
    from transformers import SiglipConfig, SiglipImageProcessor, SiglipModel

    tokenizer = build_tiny_tokenizer(256)
    with seeded(seed):
        model = SiglipModel(SiglipConfig(text_config=_text(tokenizer, 16), vision_config=_vision()))
    return _written(folder, model, SiglipImageProcessor(size={"height": SIDE, "width": SIDE}), tokenizer)
