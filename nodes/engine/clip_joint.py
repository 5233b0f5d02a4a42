"""Joint encoding through a Qwen2.5-VL text encoder that ComfyUI already loaded (CLIPLoader, qwen_image).

ComfyUI's own tokenizer places each picture's vision embedding at its <|image_pad|>; the language
model then runs once with every layer kept through its ``intermediate_output`` list support, so
artists reuse the text-encoder file they have and get the same MLLMFeatures as the transformers path.
"""

from __future__ import annotations

import torch

from ...squeeze_core.errors import SqueezeError
from ...squeeze_core.features import MLLMFeatures, TokenRole, image_role
from ...squeeze_core.images import resize_to_area, to_image_batch
from ...squeeze_core.prompts import QWEN_IMAGE_EDIT_TEMPLATE, PromptFormat, as_plain_text, check_instruction

PLACEHOLDER = "<|vision_start|><|image_pad|><|vision_end|>"


def _language_encoder(clip):
    """The SDClipModel inside ComfyUI's CLIP wrapper that holds the Qwen2.5-VL language model."""
    outer = clip.cond_stage_model
    inner = getattr(outer, getattr(outer, "clip", ""), None)
    if inner is None or not hasattr(getattr(inner, "transformer", None), "preprocess_embed"):
        raise SqueezeError(
            "this CLIP is not a Qwen2.5-VL text encoder: load qwen_2.5_vl_7b*.safetensors with CLIPLoader, "
            "type qwen_image"
        )
    return outer.clip, inner


def encode_with_clip(clip, prompt: str, images: list[torch.Tensor], vision_pixels: int,
                     picture_labels: bool = True) -> MLLMFeatures:
    name, encoder = _language_encoder(clip)
    text_tokenizer = getattr(clip.tokenizer, clip.tokenizer.clip).tokenizer
    prompt = as_plain_text(check_instruction(prompt, len(images)), text_tokenizer.get_added_vocab())
    pictures = []
    for image in images:
        batch = resize_to_area(to_image_batch(image), vision_pixels, 1, mode="area")
        pictures.append(batch.movedim(1, -1))
    prompt_format = PromptFormat(template=QWEN_IMAGE_EDIT_TEMPLATE).labelled(picture_labels)
    text = prompt_format.user_content(prompt, len(pictures), PLACEHOLDER)
    tokens = clip.tokenize(text, images=pictures, llama_template=prompt_format.template)
    clip.load_model()
    rows = [[pair[0] for pair in chunk] for chunk in tokens[name]]
    device = encoder.transformer.get_input_embeddings().weight.device
    embeds, attention_mask, num_tokens, embeds_info = encoder.process_tokens(rows, device)
    num_layers = len(encoder.transformer.model.layers)
    layers = list(range(num_layers + 1))
    with torch.no_grad():
        _, stacked = encoder.transformer(
            None, attention_mask if encoder.enable_attention_masks else None, embeds=embeds, num_tokens=num_tokens,
            intermediate_output=layers, final_layer_norm_intermediate=False, dtype=torch.float32,
            embeds_info=embeds_info,
        )
    hidden = stacked.movedim(1, 0).float()
    drop = prompt_format.template_tokens(len(text_tokenizer(prompt_format.prefix)["input_ids"]))
    roles = torch.full(hidden.shape[1:3], int(TokenRole.TEXT), dtype=torch.long)
    roles[:, :drop] = TokenRole.TEMPLATE
    for k, info in enumerate(item for item in embeds_info if item.get("type") == "image"):
        roles[:, info["index"]:info["index"] + info["size"]] = image_role(k)
    return MLLMFeatures(
        hidden_states=hidden,
        attention_mask=attention_mask.long().cpu(),
        roles=roles,
        layer_indices=tuple(layers),
        num_model_layers=num_layers,
        num_images=len(pictures),
        source="ComfyUI qwen_image text encoder",
    )
