"""Tiny, deterministic, random-weight MLLMs of the real architectures, saved as Hugging Face folders.

Tests and the demo use them where the real files (Qwen2.5-VL-7B and friends) would be: the same
``from_pretrained(folder)`` code loads both. Nothing is downloaded: the byte-level BPE tokenizer is
trained here on a small fixed corpus with the Qwen chat and vision special tokens.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from typing import Sequence

from .seeding import seeded

QWEN_SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)

_CORPUS = (
    "Describe the key features of the input image (color, shape, size, texture, objects, background), then "
    "explain how the user's text instruction should alter or modify the image. Generate a new image that meets "
    "the user's requirements while maintaining consistency with the original input where appropriate.",
    "Describe the image by detailing the color, shape, size, texture, quantity, text, spatial relationships of "
    "the objects and background:",
    "system user assistant Picture 1: Picture 2: Picture 3: Picture 4:",
    "put it small in the top left on a blue background; make the cat red; show the dog on a beach at sunset; "
    "the same toy, twice, rotated, large, in the centre, bottom right, green, yellow, white, black, striped, "
    "dotted, a photo of a person wearing a hat in the snow.",
)


@dataclass(frozen=True)
class TinyMLLMSpec:
    family: str = "qwen2_5_vl"
    hidden_size: int = 32
    num_layers: int = 4
    num_heads: int = 4
    num_kv_heads: int = 2
    vision_hidden_size: int = 32
    vision_depth: int = 2
    vocab_size: int = 512
    seed: int = 0
    vision_patch_size: int | None = None
    """Pixels per vision patch side; None: the family's own (14, Qwen3-VL 16)."""
    vision_resample: int = 3
    """The image processor's PIL resampling code, which the joint encoder shrinks pictures with: 3 bicubic
    (the Qwen families' own), 4 box (an exact area average)."""
    rope_theta: float | None = None
    """The language model's rotary base; None: the family's own (1e6 for Qwen2-VL and Qwen2.5-VL, 1e4 here for
    Qwen3-VL). A small picture's positions need a small base at tiny head sizes (``miniature/spec.py``)."""

    @property
    def patch_size(self) -> int:
        return self.vision_patch_size or (16 if self.family in ("qwen3_vl", "llava") else 14)


FAMILIES = ("qwen2_vl", "qwen2_5_vl", "qwen3_vl")
OTHER_FAMILIES = ("llava",)
"""Families the joint encoder and the DLA recipe take beyond the Qwen ones: LLaVA (a CLIP vision tower at a fixed
size, a Llama decoder; no picture-prefix reuse, whose positions are the Qwen families' multimodal rotary ones)."""
LLAVA_IMAGE_TOKEN = "<image>"
LLAVA_VISION_SIDE = 64


def build_tiny_tokenizer(vocab_size: int = 512, corpus: Sequence[str] = (), extra_special: Sequence[str] = ()):
    """A Qwen-style byte-level BPE tokenizer with the chat and vision special tokens (and ``extra_special``),
    its merges learnt from the prompt templates plus ``corpus``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[*QWEN_SPECIAL_TOKENS, *extra_special],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator((*_CORPUS, *corpus), trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token="<|im_end|>", pad_token="<|endoftext|>")


def _config(spec: TinyMLLMSpec, vocab: int, ids: dict[str, int]):
    from transformers import LlavaConfig, Qwen2_5_VLConfig, Qwen2VLConfig, Qwen3VLConfig

    head_dim = spec.hidden_size // spec.num_heads
    half = head_dim // 2
    mrope = [half - 2 * (half // 4), half // 4, half // 4]
    text = dict(
        vocab_size=vocab, hidden_size=spec.hidden_size, intermediate_size=2 * spec.hidden_size,
        num_hidden_layers=spec.num_layers, num_attention_heads=spec.num_heads,
        num_key_value_heads=spec.num_kv_heads, max_position_embeddings=8192,
        bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"], pad_token_id=ids["<|endoftext|>"],
    )
    if spec.rope_theta is not None:
        text["rope_theta"] = spec.rope_theta
    tokens = dict(
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
    )
    width, depth = spec.vision_hidden_size, spec.vision_depth
    if spec.family == "qwen2_vl":
        text["rope_scaling"] = {"type": "mrope", "mrope_section": mrope}
        vision = dict(depth=depth, embed_dim=width, hidden_size=spec.hidden_size, num_heads=4, mlp_ratio=2,
                      patch_size=spec.patch_size, spatial_merge_size=2, temporal_patch_size=2)
        return Qwen2VLConfig(text_config=text, vision_config=vision, **tokens)
    if spec.family == "qwen2_5_vl":
        text["rope_scaling"] = {"type": "mrope", "mrope_section": mrope}
        vision = dict(depth=depth, hidden_size=width, intermediate_size=2 * width, out_hidden_size=spec.hidden_size,
                      num_heads=4, patch_size=spec.patch_size, spatial_merge_size=2, temporal_patch_size=2,
                      window_size=4 * spec.patch_size,
                      fullatt_block_indexes=[depth - 1])
        return Qwen2_5_VLConfig(text_config=text, vision_config=vision, **tokens)
    if spec.family == "qwen3_vl":
        text["head_dim"] = head_dim
        text["rope_parameters"] = {"rope_type": "default", "rope_theta": text.pop("rope_theta", 10000.0),
                                   "mrope_section": mrope,
                                   "mrope_interleaved": True}
        vision = dict(depth=depth, hidden_size=width, intermediate_size=2 * width, out_hidden_size=spec.hidden_size,
                      num_heads=4, patch_size=spec.patch_size, spatial_merge_size=2, temporal_patch_size=2,
                      num_position_embeddings=64, deepstack_visual_indexes=[0])
        return Qwen3VLConfig(text_config=text, vision_config=vision, **tokens)
    if spec.family == "llava":
        text.update(model_type="llama", bos_token_id=ids["<|im_start|>"])
        vision = dict(model_type="clip_vision_model", hidden_size=width, intermediate_size=2 * width,
                      num_hidden_layers=depth, num_attention_heads=4, image_size=LLAVA_VISION_SIDE,
                      patch_size=spec.patch_size, projection_dim=width)
        return LlavaConfig(text_config=text, vision_config=vision, image_token_id=ids[LLAVA_IMAGE_TOKEN],
                           vision_feature_layer=-1, vision_feature_select_strategy="default")
    raise ValueError(f"unknown tiny MLLM family {spec.family!r}; choose one of {FAMILIES + OTHER_FAMILIES}")


def _processor(spec: TinyMLLMSpec, tokenizer):
    from transformers import (CLIPImageProcessor, LlavaProcessor, Qwen2VLImageProcessor, Qwen2VLProcessor,
                              Qwen3VLProcessor)
    from transformers.models.qwen2_vl.video_processing_qwen2_vl import Qwen2VLVideoProcessor
    from transformers.models.qwen3_vl.video_processing_qwen3_vl import Qwen3VLVideoProcessor

    if spec.family == "llava":
        side = {"height": LLAVA_VISION_SIDE, "width": LLAVA_VISION_SIDE}
        image = CLIPImageProcessor(size={"shortest_edge": LLAVA_VISION_SIDE}, crop_size=side,
                                   resample=spec.vision_resample)
        return LlavaProcessor(image_processor=image, tokenizer=tokenizer, patch_size=spec.patch_size,
                              vision_feature_select_strategy="default", num_additional_image_tokens=1,
                              image_token=LLAVA_IMAGE_TOKEN)
    factor = 2 * spec.patch_size
    image = Qwen2VLImageProcessor(patch_size=spec.patch_size, merge_size=2, min_pixels=factor * factor,
                                  max_pixels=4096 * factor * factor, resample=spec.vision_resample)
    if spec.family == "qwen3_vl":
        return Qwen3VLProcessor(image_processor=image, tokenizer=tokenizer,
                                video_processor=Qwen3VLVideoProcessor(patch_size=spec.patch_size))
    return Qwen2VLProcessor(image_processor=image, tokenizer=tokenizer,
                            video_processor=Qwen2VLVideoProcessor(patch_size=spec.patch_size))


def build_tiny_mllm_parts(spec: TinyMLLMSpec = TinyMLLMSpec(), corpus: Sequence[str] = ()):
    """(model, processor) of a tiny MLLM in memory; the same spec and corpus always give the same weights."""
    from transformers import AutoModelForImageTextToText

    extra = (LLAVA_IMAGE_TOKEN,) if spec.family == "llava" else ()
    tokenizer = build_tiny_tokenizer(spec.vocab_size, corpus, extra)
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in (*QWEN_SPECIAL_TOKENS, *extra)}
    config = _config(spec, len(tokenizer), ids)
    with seeded(spec.seed):
        model = AutoModelForImageTextToText.from_config(config)
    return model, _processor(spec, tokenizer)


def save_mllm_folder(model, processor, folder: str | os.PathLike) -> str:
    """Write a Hugging Face folder (config, safetensors, tokenizer, processor) atomically; returns its path."""
    folder = os.fspath(folder)
    staging = f"{folder}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    processor.save_pretrained(staging)
    model.save_pretrained(staging, safe_serialization=True)
    os.makedirs(os.path.dirname(os.path.abspath(folder)), exist_ok=True)
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(staging, folder)
    return folder


def build_tiny_mllm(folder: str | os.PathLike, spec: TinyMLLMSpec = TinyMLLMSpec()) -> str:
    """Write a random-weight tiny MLLM folder; returns its path. An existing complete folder is kept."""
    folder = os.fspath(folder)
    if os.path.isfile(os.path.join(folder, "model.safetensors")):
        return folder
    return save_mllm_folder(*build_tiny_mllm_parts(spec), folder)
