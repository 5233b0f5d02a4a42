"""Image and text embeddings from transformers model folders: a self-supervised ViT (DINO ViT-S/16, DINOv2: its
class token) for identity, an image-text model (CLIP, SigLIP: its projected embeddings) for CLIP-I and CLIP-T.
Safetensors only, no remote code, nothing downloaded; every embedding is unit length, so a dot product is the
cosine similarity."""

from __future__ import annotations

import os

import torch

from ..errors import ModelFolderError
from ..images import ImageLike, to_image_batch
from ..mllm_folder import read_model_type

SCORERS_FOLDER = "models/squeeze_scorers"


def _load(folder: str | os.PathLike, device: torch.device | str, part: str = "model"):
    """The model (``part="model"``, with its image processor) or the tokenizer of a scoring model folder."""
    from transformers import AutoImageProcessor, AutoModel, AutoTokenizer

    folder = os.fspath(folder)
    model_type = read_model_type(folder, "scoring model", SCORERS_FOLDER)
    try:
        if part == "tokenizer":
            return AutoTokenizer.from_pretrained(folder, trust_remote_code=False)
        model = AutoModel.from_pretrained(folder, use_safetensors=True, trust_remote_code=False)
        processor = AutoImageProcessor.from_pretrained(folder, trust_remote_code=False)
    except (OSError, ValueError, KeyError) as error:
        raise ModelFolderError(f"could not load the scoring model in {os.path.basename(os.path.normpath(folder))} "
                               f"(model_type {model_type!r}): {error}") from error
    return model.to(device).eval().requires_grad_(False), processor


def projected(output) -> torch.Tensor:
    """transformers 5 returns a model output whose pooler_output is the projected embedding; 4.x a tensor."""
    return output if torch.is_tensor(output) else output.pooler_output


def _unit(vectors: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.normalize(vectors.float(), dim=-1)


class ImageEmbedder:
    """A vision transformer's class token: DINO's identity features."""

    def __init__(self, model, processor, source: str = ""):
        self.model, self.processor, self.source = model, processor, source

    @classmethod
    def from_folder(cls, folder: str | os.PathLike, device: torch.device | str = "cpu") -> ImageEmbedder:
        model, processor = _load(folder, device)
        return cls(model, processor, os.path.basename(os.path.normpath(os.fspath(folder))))

    def _pixels(self, images: list[ImageLike]) -> torch.Tensor:
        arrays = [frame.permute(1, 2, 0).numpy() for image in images for frame in to_image_batch(image)]
        device = next(self.model.parameters()).device
        return self.processor(images=arrays, return_tensors="pt", do_rescale=False)["pixel_values"].to(device)

    @torch.inference_mode()
    def images(self, images: list[ImageLike]) -> torch.Tensor:
        """[N, D] unit embeddings, one per frame of the given images."""
        return _unit(self.model(pixel_values=self._pixels(images)).last_hidden_state[:, 0])


class ImageTextEmbedder(ImageEmbedder):
    """CLIP or SigLIP: images and texts in one embedding space."""

    def __init__(self, model, processor, tokenizer, source: str = ""):
        super().__init__(model, processor, source)
        self.tokenizer = tokenizer

    @classmethod
    def from_folder(cls, folder: str | os.PathLike, device: torch.device | str = "cpu") -> ImageTextEmbedder:
        model, processor = _load(folder, device)
        if not hasattr(model, "get_text_features"):
            raise ModelFolderError(f"{os.path.basename(os.path.normpath(os.fspath(folder)))} is a "
                                   f"{type(model).__name__}, not an image-text model such as CLIP or SigLIP")
        return cls(model, processor, _load(folder, device, "tokenizer"),
                   os.path.basename(os.path.normpath(os.fspath(folder))))

    @torch.inference_mode()
    def images(self, images: list[ImageLike]) -> torch.Tensor:
        return _unit(projected(self.model.get_image_features(pixel_values=self._pixels(images))))

    @torch.inference_mode()
    def texts(self, texts: list[str]) -> torch.Tensor:
        device = next(self.model.parameters()).device
        limit = getattr(getattr(self.model.config, "text_config", None), "max_position_embeddings", 77)
        tokens = self.tokenizer(list(texts), padding="max_length" if "siglip" in type(self.model).__name__.lower()
                                else True, truncation=True, max_length=limit, return_tensors="pt")
        tokens = {key: value.to(device) for key, value in tokens.items() if key in ("input_ids", "attention_mask")}
        return _unit(projected(self.model.get_text_features(**tokens)))
