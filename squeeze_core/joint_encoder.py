"""Joint encoding of an instruction and its reference pictures by one transformers MLLM.

Qwen2-VL, Qwen2.5-VL and Qwen3-VL are the first-class families; any image-text-to-text model whose
processor expands one image placeholder per picture into one run of image tokens works the same way (LLaVA is
tested). Weights load from
safetensors only and never run code shipped with the model.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Sequence

import torch
from safetensors import SafetensorError

from .errors import InvalidImageError, ModelFolderError, PromptError
from .features import MLLMFeatures, TokenRole, image_role
from .images import ImageLike, resize_to_area, to_image_batch
from .mllm_folder import read_model_type
from .picture_prefix import PicturePrefix, cache_tensors
from .prompts import PromptFormat, as_plain_text, check_instruction

logger = logging.getLogger("squeeze")

DEFAULT_VISION_PIXELS = 384 * 384
RESIZE_MODES = {0: "nearest-exact", 2: "bilinear", 3: "bicubic", 4: "area"}
"""PIL's resampling codes (an image processor's ``resample``) as torch resize modes; others resize bicubic."""


def vision_resize_mode(image_processor) -> str:
    """How the pictures are shrunk to the vision budget: as the MLLM's own image processor resamples."""
    return RESIZE_MODES.get(int(getattr(image_processor, "resample", 3)), "bicubic")


class JointEncoder:
    """Encodes one chat prompt holding the instruction and up to several pictures, keeping every layer."""

    def __init__(
        self,
        model: torch.nn.Module,
        processor,
        *,
        source: str = "",
        prompt_format: PromptFormat = PromptFormat(),
        vision_pixel_budget: int = DEFAULT_VISION_PIXELS,
    ):
        self.model = model
        self.processor = processor
        self.source = source
        self.prompt_format = prompt_format
        self.vision_pixel_budget = vision_pixel_budget
        tokenizer = processor.tokenizer
        self.image_token_id = int(processor.image_token_id)
        vocab = tokenizer.get_vocab()
        if "<|vision_start|>" in vocab and "<|vision_end|>" in vocab:
            self.image_placeholder = f"<|vision_start|>{processor.image_token}<|vision_end|>"
        else:
            self.image_placeholder = processor.image_token
        image_processor = processor.image_processor
        self.merge_size = int(getattr(image_processor, "merge_size", 1))
        self.patch_factor = int(getattr(image_processor, "patch_size", 14)) * self.merge_size
        self.resize_mode = vision_resize_mode(image_processor)
        self._prefix_tokens = len(tokenizer(prompt_format.prefix, add_special_tokens=False)["input_ids"])
        self.control_tokens = tuple(tokenizer.get_added_vocab())

    @classmethod
    def from_folder(
        cls,
        folder: str | os.PathLike,
        *,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str = "cpu",
        **options,
    ) -> JointEncoder:
        from transformers import AutoModelForImageTextToText, AutoProcessor

        folder = os.fspath(folder)
        model_type = read_model_type(folder)
        started = time.perf_counter()
        try:
            processor = AutoProcessor.from_pretrained(folder, trust_remote_code=False)
            model = AutoModelForImageTextToText.from_pretrained(
                folder, dtype=dtype, use_safetensors=True, trust_remote_code=False
            )
        except (OSError, ValueError, KeyError, SafetensorError) as error:
            name = os.path.basename(os.path.normpath(folder))
            detail = str(error)
            for spelling in {os.path.abspath(folder), os.path.normpath(folder), folder}:
                detail = detail.replace(spelling, name)
            raise ModelFolderError(
                f"could not load the MLLM in {name} (model_type {model_type!r}): {detail}; if a file is cut short "
                f"or corrupt, copy the model folder again"
            ) from error
        model.to(device).eval().requires_grad_(False)
        logger.info("loaded MLLM %s (%s) in %.1fs", os.path.basename(folder), model_type, time.perf_counter() - started)
        return cls(model, processor, source=os.path.basename(os.path.normpath(folder)), **options)

    @property
    def text_config(self):
        config = self.model.config
        return getattr(config, "text_config", config)

    @property
    def num_layers(self) -> int:
        return int(self.text_config.num_hidden_layers)

    @property
    def hidden_size(self) -> int:
        return int(self.text_config.hidden_size)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def context_length(self) -> int | None:
        """The most tokens the MLLM's positions cover (None when its config does not say)."""
        value = getattr(self.text_config, "max_position_embeddings", None)
        return None if value is None else int(value)

    def check_context(self, tokens: int) -> None:
        """Refuse a joint prompt longer than the MLLM's context before the forward pass spends time on it."""
        limit = self.context_length
        if limit is not None and tokens > limit:
            raise PromptError(f"the prompt and pictures make {tokens} tokens, more than this MLLM's context of "
                              f"{limit}; shorten the prompt, or lower vision_resolution or the number of pictures")

    def resolve_layers(self, layers: Sequence[int] | None) -> tuple[int, ...]:
        """Model layer indices to keep: None is all (0 = embeddings ... num_layers = final, normed)."""
        top = self.num_layers
        if layers is None:
            return tuple(range(top + 1))
        resolved = set()
        for index in layers:
            position = index + top + 1 if index < 0 else index
            if not 0 <= position <= top:
                raise ValueError(f"layer {index} does not exist: this MLLM has layers 0..{top} (or -1..-{top + 1})")
            resolved.add(position)
        if not resolved:
            raise ValueError("capture at least one layer")
        return tuple(sorted(resolved))

    def vision_inputs(self, references: list[torch.Tensor], batch: int, budget: int) -> list[torch.Tensor]:
        """One [3, H, W] picture per (batch item, reference), in prompt order, resized to the budget."""
        pictures = []
        for row in range(batch):
            for reference in references:
                picture = reference[row if reference.shape[0] > 1 else 0]
                pictures.append(resize_to_area(picture[None], budget, self.patch_factor, mode=self.resize_mode)[0])
        return pictures

    def model_inputs(self, texts: list[str], pictures: list[torch.Tensor], budget: int) -> dict:
        """The processor's tensors for rendered chat ``texts`` holding ``pictures`` [3, H, W] in order."""
        processor_kwargs = {}
        if pictures:
            processor_kwargs = dict(
                images=pictures,
                do_rescale=False,
                size={"shortest_edge": self.patch_factor**2, "longest_edge": max(budget, self.patch_factor**2) * 4},
            )
        inputs = self.processor(text=texts, padding=True, return_tensors="pt", **processor_kwargs)
        inputs = {key: value.to(self.device) if torch.is_tensor(value) else value for key, value in inputs.items()}
        if "pixel_values" in inputs:
            inputs["pixel_values"] = inputs["pixel_values"].to(self.model.dtype)
        return inputs

    @torch.inference_mode()
    def encode(
        self,
        prompt: str | Sequence[str],
        images: Sequence[ImageLike] = (),
        *,
        layers: Sequence[int] | None = None,
        vision_pixel_budget: int | None = None,
        picture_labels: bool = True,
        allow_empty: bool = False,
    ) -> MLLMFeatures:
        """Encode the instruction(s) with the pictures as "Picture 1", "Picture 2", ... in one prompt.

        A reference holding a batch of B frames gives B batch items (item b sees frame b); prompts
        broadcast the same way. ``picture_labels=False`` writes the pictures without their labels, as
        the first Qwen-Image-Edit did. ``allow_empty`` accepts an empty prompt with no picture: the
        unconditional of a text-only encoding.
        """
        references = [to_image_batch(image) for image in images]
        prompts = self._checked_prompts(prompt, len(references), allow_empty)
        sizes = {len(prompts), *(r.shape[0] for r in references)} - {1}
        if len(sizes) > 1:
            raise InvalidImageError(
                f"prompts and reference batches must have one common batch size (or 1); got sizes {sorted(sizes)}"
            )
        batch = sizes.pop() if sizes else 1
        budget = vision_pixel_budget or self.vision_pixel_budget
        prompt_format = self.prompt_format.labelled(picture_labels)
        texts = [
            prompt_format.render(prompts[row if len(prompts) > 1 else 0], len(references), self.image_placeholder)
            for row in range(batch)
        ]
        inputs = self.model_inputs(texts, self.vision_inputs(references, batch, budget), budget)
        self.check_context(inputs["input_ids"].shape[1])
        keep = self.resolve_layers(layers)
        outputs = self.model(**inputs, output_hidden_states=True, use_cache=False, return_dict=True, logits_to_keep=1)
        hidden = torch.stack([outputs.hidden_states[i] for i in keep])
        roles = self._roles(inputs["input_ids"], inputs["attention_mask"], len(references),
                            self._tokens_per_image(inputs))
        return MLLMFeatures(
            hidden_states=hidden,
            attention_mask=inputs["attention_mask"].long(),
            roles=roles,
            layer_indices=keep,
            num_model_layers=self.num_layers,
            num_images=len(references),
            source=self.source,
        )

    @torch.inference_mode()
    def encode_pictures(
        self,
        images: Sequence[ImageLike],
        *,
        vision_pixel_budget: int | None = None,
        picture_labels: bool = True,
    ) -> PicturePrefix:
        """The template and the labelled pictures of every joint prompt over these pictures, encoded once:
        ``encode_after`` then runs only an instruction's own tokens. One frame per picture."""
        references = [to_image_batch(image) for image in images]
        if not references:
            raise InvalidImageError("a subject needs at least one picture")
        if any(reference.shape[0] != 1 for reference in references):
            raise InvalidImageError("a subject's pictures are single images; encode a batch of frames one by one")
        budget = vision_pixel_budget or self.vision_pixel_budget
        text = self._picture_prefix_text(len(references), picture_labels)
        inputs = self.model_inputs([text], self.vision_inputs(references, 1, budget), budget)
        input_ids = inputs["input_ids"]
        if tokenizer_merges_across(self.processor.tokenizer, int(input_ids[0, -1])):
            raise PromptError(f"{self.source or 'this MLLM'} does not end its pictures on a special token, so an "
                              f"instruction could tokenise differently after them; encode prompt and pictures "
                              f"together (Squeeze MLLM Joint Encode) instead of reusing a subject")
        self.check_context(input_ids.shape[1])
        outputs = self.model(**inputs, output_hidden_states=True, use_cache=True, return_dict=True, logits_to_keep=1)
        keys, values = cache_tensors(outputs.past_key_values)
        deltas = getattr(self.model.base_model, "rope_deltas", None)
        roles = self._roles(input_ids, inputs["attention_mask"], len(references), self._tokens_per_image(inputs))
        return PicturePrefix(torch.stack(outputs.hidden_states)[:, 0], keys, values, roles[0],
                             None if deltas is None else int(deltas.flatten()[0]), text, picture_labels,
                             len(references), self.source, budget)

    def _checked_prompts(self, prompt: str | Sequence[str], pictures: int, allow_empty: bool = False) -> list[str]:
        """The prompt(s) as a list, each checked and with typed control tokens read as text."""
        prompts = [prompt] if isinstance(prompt, str) else list(prompt)
        if not prompts:
            raise PromptError("give at least one prompt")
        return [as_plain_text(check_instruction(p, pictures, allow_empty), self.control_tokens) for p in prompts]

    def _picture_prefix_text(self, num_images: int, picture_labels: bool) -> str:
        """The chat text before the instruction: the template's start and the labelled pictures."""
        prompt_format = self.prompt_format.labelled(picture_labels)
        return prompt_format.prefix + prompt_format.user_content("", num_images, self.image_placeholder)

    @torch.inference_mode()
    def encode_after(
        self, prompt: str | Sequence[str], prefix: PicturePrefix, *, layers: Sequence[int] | None = None
    ) -> MLLMFeatures:
        """The joint encoding of each instruction with the pictures of ``prefix``, running only the instruction's
        tokens: the same features as ``encode`` with those pictures (rows padded on the right)."""
        prompts = self._checked_prompts(prompt, prefix.num_images)
        same_model = (prefix.source == self.source and prefix.states.shape[0] == self.num_layers + 1
                      and prefix.states.shape[-1] == self.hidden_size)
        if not same_model or prefix.prompt_prefix != self._picture_prefix_text(prefix.num_images,
                                                                               prefix.picture_labels):
            raise PromptError(f"this subject was encoded by {prefix.source or 'another MLLM'} or with another "
                              f"prompt format; encode the subject again with {self.source or 'this MLLM'}")
        suffix = self.prompt_format.suffix
        tokenizer = self.processor.tokenizer
        rows = [tokenizer(text + suffix, add_special_tokens=False)["input_ids"] for text in prompts]
        width = max(len(row) for row in rows)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        device = self.device
        input_ids = torch.tensor([row + [pad] * (width - len(row)) for row in rows], device=device)
        suffix_mask = torch.tensor([[1] * len(row) + [0] * (width - len(row)) for row in rows], device=device)
        self.check_context(prefix.length + width)
        batch = len(rows)
        prefix = prefix.to(device=device, dtype=self.model.dtype)
        attention_mask = torch.cat([suffix_mask.new_ones(batch, prefix.length), suffix_mask], dim=1)
        outputs = self.model(input_ids=input_ids, attention_mask=attention_mask,
                             position_ids=prefix.continuation_positions(batch, width, device),
                             past_key_values=prefix.key_value_cache(batch, self.model.config),
                             output_hidden_states=True, use_cache=True, return_dict=True, logits_to_keep=1)
        keep = self.resolve_layers(layers)
        hidden = torch.stack([torch.cat([prefix.states[i].expand(batch, -1, -1), outputs.hidden_states[i]], dim=1)
                              for i in keep])
        roles = torch.where(suffix_mask.bool(), int(TokenRole.TEXT), int(TokenRole.PAD))
        roles = torch.cat([prefix.roles.expand(batch, -1), roles], dim=1)
        return MLLMFeatures(hidden_states=hidden, attention_mask=attention_mask.long(), roles=roles,
                            layer_indices=keep, num_model_layers=self.num_layers, num_images=prefix.num_images,
                            source=self.source)

    def _tokens_per_image(self, inputs: dict) -> list[int] | None:
        """Each picture's token count from the Qwen processors' grids; None for processors that give no grid
        (LLaVA's and others expand each placeholder into one run of image tokens: the runs are the pictures)."""
        grid = inputs.get("image_grid_thw")
        return None if grid is None else (grid.prod(dim=-1) // self.merge_size**2).tolist()

    def _roles(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, num_images: int,
        tokens_per_image: list[int] | None
    ) -> torch.Tensor:
        roles = torch.full_like(input_ids, int(TokenRole.TEXT))
        roles[attention_mask == 0] = TokenRole.PAD
        drop = self.prompt_format.template_tokens(self._prefix_tokens)
        for row in range(input_ids.shape[0]):
            real = attention_mask[row].nonzero().flatten()
            roles[row, real[:drop]] = TokenRole.TEMPLATE
            positions = (input_ids[row] == self.image_token_id).nonzero().flatten()
            expected = (None if tokens_per_image is None
                        else tokens_per_image[row * num_images:(row + 1) * num_images])
            for k, run in enumerate(_split_image_runs(positions, expected, num_images)):
                roles[row, run] = image_role(k)
        return roles


def tokenizer_merges_across(tokenizer, last_token: int) -> bool:
    """Whether text after ``last_token`` could merge with it into other tokens: only special tokens are safe ends."""
    return last_token not in set(tokenizer.all_special_ids) | set(tokenizer.get_added_vocab().values())


def _split_image_runs(positions: torch.Tensor, expected: list[int] | None, num_images: int) -> list[torch.Tensor]:
    """Split the image-token positions of one prompt into one run per picture.

    Pictures are separate runs of placeholder tokens (Qwen wraps each in vision start/end tokens; the labels
    "Picture k:" part the others); each run must hold exactly the tokens the processor's grid gives that
    picture, or, with no grid (``expected`` None), there must be one run per picture.
    """
    if positions.numel() == 0:
        runs: list[torch.Tensor] = []
    else:
        breaks = (positions.diff() != 1).nonzero().flatten() + 1
        runs = list(torch.tensor_split(positions, breaks.tolist()))
    if expected is None:
        if len(runs) != num_images:
            raise RuntimeError(f"{len(runs)} runs of image tokens for {num_images} pictures; the processor must "
                               f"expand each picture's placeholder into one run")
        return runs
    if len(runs) != len(expected) and positions.numel() == sum(expected):
        runs = list(torch.split(positions, expected))
    found = [len(run) for run in runs]
    if found != expected:
        raise RuntimeError(f"image token runs {found} do not match the processor's grids {expected}")
    return runs
