"""Scoring nodes: load DINO and CLIP (or SigLIP) folders from models/squeeze_scorers, and rank a batch of
results by how well each keeps the subject and follows the instruction, best first."""

from __future__ import annotations

import comfy.model_management as mm
import torch
from comfy_api.latest import io

from ..squeeze_core.scoring.embedders import ImageEmbedder, ImageTextEmbedder
from ..squeeze_core.scoring.subject_scores import SubjectScorer, rank

from .engine.models import LoadedScorer
from .errors import node_errors
from .input_checks import CheckedNode
from .model_folders import SCORER_FOLDER, list_model_folders, model_folder_path
from .types import SCORER


class SqueezeScorerLoader(CheckedNode):
    DISPLAY = "Squeeze Scorer Loader"

    @classmethod
    def define_schema(cls) -> io.Schema:
        folders = list_model_folders(SCORER_FOLDER)
        return io.Schema(
            node_id="SqueezeScorerLoader",
            display_name=cls.DISPLAY,
            category="squeeze/loaders",
            description="Loads the models that score generated subjects the way DreamBench does: a DINO vision "
            "transformer for identity and a CLIP or SigLIP model for the instruction, each a Hugging Face folder "
            "in models/squeeze_scorers. Safetensors only; code shipped with a model is never run.",
            inputs=[
                io.Combo.Input("dino_name", options=folders,
                               tooltip="A DINO ViT folder (facebook/dino-vits16, the DreamBench choice, or DINOv2): "
                               "its class token measures how alike two subjects look."),
                io.Combo.Input("clip_name", options=folders,
                               tooltip="A CLIP or SigLIP folder: image-to-reference (CLIP-I) and image-to-prompt "
                               "(CLIP-T) similarity."),
            ],
            outputs=[SCORER.Output(display_name="scorer", tooltip="The scorer, for Squeeze Rank by Subject.")],
        )

    @classmethod
    def check_inputs(cls, dino_name: str, clip_name: str, **_) -> bool | str:
        for widget, name in (("dino_name", dino_name), ("clip_name", clip_name)):
            if model_folder_path(SCORER_FOLDER, name) is None:
                return (f"{cls.DISPLAY}: {widget} '{name}' is not a folder in models/squeeze_scorers; put the "
                        f"model's Hugging Face folder there and refresh, or pick one from the list")
        return True

    @classmethod
    def execute(cls, dino_name: str, clip_name: str) -> io.NodeOutput:
        device = mm.unet_offload_device()
        with node_errors(cls.DISPLAY):
            scorer = SubjectScorer(ImageEmbedder.from_folder(model_folder_path(SCORER_FOLDER, dino_name), device),
                                   ImageTextEmbedder.from_folder(model_folder_path(SCORER_FOLDER, clip_name), device))
        return io.NodeOutput(LoadedScorer.wrap(scorer))


class SqueezeRankBySubject(CheckedNode):
    DISPLAY = "Squeeze Rank by Subject"

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SqueezeRankBySubject",
            display_name=cls.DISPLAY,
            category="squeeze/image",
            description="Scores each image of a batch against the subject's reference picture(s) (DINO and CLIP-I "
            "similarity) and the instruction (CLIP-T), and returns the batch re-ordered best first: run 8 seeds, "
            "keep the best. Both figures are standardised within the batch, so the weights say how much each counts.",
            inputs=[
                SCORER.Input("scorer", tooltip="From Squeeze Scorer Loader."),
                io.Image.Input("images", tooltip="The results to rank, e.g. VAE Decode of a batch of seeds."),
                io.Image.Input("reference", tooltip="The subject's reference picture(s)."),
                io.String.Input("prompt", multiline=True, default="",
                                tooltip="The instruction the results should follow (CLIP-T)."),
                io.Float.Input("identity_weight", default=1.0, min=0.0, max=10.0, step=0.05,
                               tooltip="How much keeping the subject (DINO similarity to the reference) counts."),
                io.Float.Input("instruction_weight", default=1.0, min=0.0, max=10.0, step=0.05,
                               tooltip="How much following the instruction (CLIP-T) counts."),
                io.Int.Input("keep", default=0, min=0, max=4096,
                             tooltip="Return only the best this many images; 0 returns the whole batch, re-ordered."),
            ],
            outputs=[
                io.Image.Output(display_name="images", tooltip="The batch, best first."),
                io.String.Output(display_name="scores",
                                 tooltip="One line per image of the batch, best first (kept or not): its place "
                                 "in the input batch and its DINO, CLIP-I and CLIP-T figures."),
            ],
        )

    @classmethod
    def execute(cls, scorer: LoadedScorer, images: torch.Tensor, reference: torch.Tensor, prompt: str,
                identity_weight: float, instruction_weight: float, keep: int) -> io.NodeOutput:
        with node_errors(cls.DISPLAY):
            scores = scorer.ready().score(list(images), [reference], prompt)
        order = rank(scores, identity_weight, instruction_weight)
        lines = [f"#{place + 1}: image {int(index)} " + " ".join(f"{name} {value:.4f}" for name, value in
                                                                 scores.row(int(index)).items())
                 for place, index in enumerate(order)]
        kept = order[:keep] if keep else order
        return io.NodeOutput(images[kept.to(images.device)], "\n".join(lines))
