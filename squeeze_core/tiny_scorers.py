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


def build_tiny_dino(folder: str | os.PathLike, seed: int = 0) -> str:
    from transformers import ViTConfig, ViTImageProcessor, ViTModel

    folder = os.fspath(folder)
    with seeded(seed):
        model = ViTModel(ViTConfig(**_vision()))
    model.save_pretrained(folder, safe_serialization=True)
    ViTImageProcessor(size={"height": SIDE, "width": SIDE}).save_pretrained(folder)
    return folder


def build_tiny_clip(folder: str | os.PathLike, seed: int = 0) -> str:
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    folder = os.fspath(folder)
    tokenizer = build_tiny_tokenizer(256)
    text = dict(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                num_attention_heads=4, max_position_embeddings=77, eos_token_id=tokenizer.eos_token_id,
                pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.pad_token_id)
    with seeded(seed):
        model = CLIPModel(CLIPConfig(text_config=text, vision_config=_vision(), projection_dim=16))
    model.save_pretrained(folder, safe_serialization=True)
    CLIPImageProcessor(size={"shortest_edge": SIDE}, crop_size={"height": SIDE, "width": SIDE}).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def build_tiny_dinov2(folder: str | os.PathLike, seed: int = 0) -> str:
    from transformers import BitImageProcessor, Dinov2Config, Dinov2Model

    folder = os.fspath(folder)
    with seeded(seed):
        model = Dinov2Model(Dinov2Config(**_vision()))
    model.save_pretrained(folder, safe_serialization=True)
    BitImageProcessor(size={"shortest_edge": SIDE}, crop_size={"height": SIDE, "width": SIDE}).save_pretrained(folder)
    return folder


def build_tiny_siglip(folder: str | os.PathLike, seed: int = 0) -> str:
    from transformers import SiglipConfig, SiglipImageProcessor, SiglipModel

    folder = os.fspath(folder)
    tokenizer = build_tiny_tokenizer(256)
    text = dict(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                num_attention_heads=4, max_position_embeddings=16, pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id, bos_token_id=tokenizer.pad_token_id)
    with seeded(seed):
        model = SiglipModel(SiglipConfig(text_config=text, vision_config=_vision()))
    model.save_pretrained(folder, safe_serialization=True)
    SiglipImageProcessor(size={"height": SIDE, "width": SIDE}).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
