"""Subject nodes: the reference pictures encoded once (MLLM prefix and VAE latents) and reused by any instruction,
and many instructions x seeds sampled from one subject in one queued prompt."""

from __future__ import annotations

import os

import comfy.model_management as mm
import folder_paths
import torch
from comfy_api.latest import io

from ..squeeze_core.files import load_subject, save_subject
from ..squeeze_core.subject import encode_subject

from .conditioning import (aggregate, identity_resolution_input, strength_inputs, vae_latent_encoder,
                           with_references)
from .encode import labels_input, vision_input
from .errors import SqueezeNodeError, node_errors
from .images import connected_images, image_inputs
from .input_checks import CheckedNode
from .model_folders import SUBJECT_FOLDER
from .regions import conditioning_regions, with_regions
from .sampling import build_schedule, denoise_input, sample_stages, sampler_inputs, schedule_inputs
from .types import DLA, MLLM, SUBJECT

MAX_INSTRUCTIONS = 64


def _subject_input() -> io.Input:
    return SUBJECT.Input("subject", tooltip="From Squeeze Subject Encode, with the same MLLM.")


def _dla_input() -> io.Input:
    return DLA.Input("dla", optional=True, tooltip="From Squeeze DLA Loader; leave empty for the base model's own "
                     "conditioning.")


def subject_conditioning(display: str, mllm, subject, prompt: str, dla=None, strengths=(1.0,) * 4) -> list:
    """What Squeeze MLLM Joint Encode -> DLA Aggregate -> VAE Identity Encode give for these pictures and this
    prompt, with only the prompt's tokens through the MLLM and nothing through the VAE."""
    with node_errors(display):
        features = subject.encode(mllm.ready(), prompt).to(mm.intermediate_device())
        conditioning = aggregate(features, dla)
    if not subject.latents:
        return conditioning
    return with_references(conditioning, list(subject.latents), list(strengths[:len(subject.latents)]))


class SqueezeSubjectEncode(CheckedNode):
    DISPLAY = "Squeeze Subject Encode"

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SqueezeSubjectEncode",
            display_name=cls.DISPLAY,
            category="squeeze/subject",
            description="Encodes the reference pictures once: the MLLM's hidden states and key/value cache of the "
            "pictures (they come before the instruction in the joint prompt, so they do not depend on it) and, "
            "with a VAE, their identity latents. Every instruction given to the subject afterwards runs only its own "
            "tokens; ComfyUI keeps this node's result while its inputs stay the same.",
            inputs=[MLLM.Input("mllm", tooltip="From Squeeze MLLM Loader."),
                    *image_inputs("of the subject"),
                    io.Vae.Input("vae", optional=True, tooltip="The diffusion model's VAE: its latents of each picture "
                                 "are kept with the subject (VAE identity). Leave empty for the MLLM path alone."),
                    vision_input(), labels_input(),
                    identity_resolution_input()],
            outputs=[SUBJECT.Output(display_name="subject", tooltip="The encoded subject, for Squeeze Subject "
                                    "Conditioning and Squeeze Subject Batch Sampler.")],
        )

    @classmethod
    def execute(cls, mllm, vision_resolution: int, picture_labels: bool, identity_resolution: int, vae=None,
                **images) -> io.NodeOutput:
        with node_errors(cls.DISPLAY):
            pictures = connected_images(**images)
            subject = encode_subject(mllm.ready(), pictures, None if vae is None else vae_latent_encoder(vae),
                                     vision_pixel_budget=vision_resolution * vision_resolution,
                                     picture_labels=picture_labels,
                                     identity_pixel_budget=identity_resolution * identity_resolution)
        return io.NodeOutput(subject.to(mm.intermediate_device()))


class SqueezeSubjectConditioning(CheckedNode):
    DISPLAY = "Squeeze Subject Conditioning"

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SqueezeSubjectConditioning",
            display_name=cls.DISPLAY,
            category="squeeze/subject",
            description="One instruction for an encoded subject: the same conditioning as Squeeze MLLM Joint Encode, "
            "Squeeze DLA Aggregate and Squeeze VAE Identity Encode over its pictures, at the cost of the "
            "instruction's own tokens. Stock CONDITIONING for any sampler, ControlNet or the Squeeze samplers.",
            inputs=[MLLM.Input("mllm", tooltip="The MLLM that encoded the subject."), _subject_input(),
                    io.String.Input("prompt", multiline=True, dynamic_prompts=True,
                                    tooltip="The instruction ('Picture 1', 'Picture 2', ... name the pictures); "
                                    "empty gives the unconditional, the negative of classifier-free guidance."),
                    _dla_input(), *strength_inputs("the subject's picture")],
            outputs=[io.Conditioning.Output(display_name="conditioning",
                                            tooltip="The conditioning, with the subject's reference latents when it "
                                            "was encoded with a VAE.")],
        )

    @classmethod
    def execute(cls, mllm, subject, prompt: str, dla=None, strength1: float = 1.0, strength2: float = 1.0,
                strength3: float = 1.0, strength4: float = 1.0) -> io.NodeOutput:
        return io.NodeOutput(subject_conditioning(cls.DISPLAY, mllm, subject, prompt, dla,
                                                  (strength1, strength2, strength3, strength4)))


def instruction_lines(display: str, text: str) -> list[str]:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        raise SqueezeNodeError(f"{display}: no instruction given; write one instruction per line")
    if len(lines) > MAX_INSTRUCTIONS:
        raise SqueezeNodeError(f"{display}: {len(lines)} instructions, more than {MAX_INSTRUCTIONS}; split them "
                               f"over several prompts")
    return lines


class SqueezeSubjectBatchSampler(CheckedNode):
    DISPLAY = "Squeeze Subject Batch Sampler"

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SqueezeSubjectBatchSampler",
            display_name=cls.DISPLAY,
            category="squeeze/subject",
            description="Many instructions x seeds from one encoded subject in one queued prompt: each instruction "
            "costs only its own MLLM tokens, and each result is exactly what Squeeze Multi-Stage KSampler gives for "
            "that instruction and seed. Results come out as one batch, instruction by instruction, with the prompt "
            "of each.",
            inputs=[
                io.Model.Input("model", tooltip="The diffusion model (e.g. Qwen-Image-Edit)."),
                MLLM.Input("mllm", tooltip="The MLLM that encoded the subject."), _subject_input(), _dla_input(),
                io.String.Input("instructions", multiline=True, dynamic_prompts=True,
                                tooltip="One instruction per line (empty lines are skipped)."),
                io.String.Input("negative_prompt", multiline=True, default="",
                                tooltip="What to steer away from; empty is the subject's unconditional (its pictures "
                                "and no instruction), as Qwen-Image-Edit's negative."),
                io.Int.Input("seeds_per_instruction", default=1, min=1, max=64,
                             tooltip="Results per instruction, from seeds seed, seed + 1, ... (the same seeds for "
                             "every instruction, so instructions compare at equal noise)."),
                *sampler_inputs(),
                io.Latent.Input("latent_image", tooltip="The latent every result starts from (its size)."),
                denoise_input(),
                *schedule_inputs(),
                io.Conditioning.Input("regions_from", optional=True,
                                      tooltip="Where the subject's references belong: a conditioning that Squeeze "
                                      "Reference Region nodes placed them in (e.g. Squeeze Subject Conditioning -> "
                                      "Squeeze Reference Region). Only its regions are read; they bind every result."),
            ],
            outputs=[io.Latent.Output(display_name="latent", tooltip="Every result, instruction by instruction."),
                     io.String.Output(display_name="prompts", tooltip="One line per result: its instruction and seed "
                                      "(Squeeze Side by Side writes line k under result k).")],
        )

    @classmethod
    def execute(cls, model, mllm, subject, instructions: str, negative_prompt: str, seeds_per_instruction: int,
                seed: int, steps: int, cfg: float, sampler_name: str, scheduler: str, latent_image: dict,
                denoise: float, dla=None, regions_from=None, **schedule) -> io.NodeOutput:
        lines = instruction_lines(cls.DISPLAY, instructions)
        stages = build_schedule(cls.DISPLAY, **schedule)
        negative = subject_conditioning(cls.DISPLAY, mllm, subject, negative_prompt, dla)
        regions = conditioning_regions(regions_from or [])
        results, captions = [], []
        for line in lines:
            positive = subject_conditioning(cls.DISPLAY, mllm, subject, line, dla)
            if regions:
                positive = with_regions(positive, regions)
            for offset in range(seeds_per_instruction):
                samples = sample_stages(model, seed + offset, steps, cfg, sampler_name, scheduler, positive,
                                        negative, latent_image, denoise, stages)
                results.append(samples)
                captions += [f"{line} (seed {seed + offset})"] * samples.shape[0]
        out = {key: value for key, value in latent_image.items() if key not in ("batch_index", "noise_mask")}
        out["samples"] = torch.cat(results)
        return io.NodeOutput(out, "\n".join(captions))


class SqueezeSubjectSave(CheckedNode):
    DISPLAY = "Squeeze Subject Save"

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SqueezeSubjectSave",
            display_name=cls.DISPLAY,
            category="squeeze/subject",
            description="Saves an encoded subject (pictures, MLLM prefix, VAE latents) as one safetensors file under "
            "output/, so another workflow or session reuses it without the pictures, the vision tower or the VAE. "
            "Files saved in output/squeeze_subjects are listed by Squeeze Subject Loader.",
            inputs=[_subject_input(),
                    io.String.Input("filename_prefix", default=f"{SUBJECT_FOLDER}/subject",
                                    tooltip="Where under output/ to write; a counter is added. The default folder is "
                                    "the one Squeeze Subject Loader lists.")],
            outputs=[],
            is_output_node=True,
        )

    @classmethod
    def execute(cls, subject, filename_prefix: str) -> io.NodeOutput:
        folder, name, counter, _, _ = folder_paths.get_save_image_path(filename_prefix,
                                                                       folder_paths.get_output_directory())
        save_subject(subject, os.path.join(folder, f"{name}_{counter:05}_.safetensors"))
        return io.NodeOutput()


class SqueezeSubjectLoader(CheckedNode):
    DISPLAY = "Squeeze Subject Loader"

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SqueezeSubjectLoader",
            display_name=cls.DISPLAY,
            category="squeeze/subject",
            description="Loads a subject saved by Squeeze Subject Save (from models/squeeze_subjects or "
            "output/squeeze_subjects): its pictures are not encoded again. Give it the MLLM that encoded it.",
            inputs=[io.Combo.Input("subject_name", options=folder_paths.get_filename_list(SUBJECT_FOLDER),
                                   tooltip="A subject file; refresh after saving one.")],
            outputs=[SUBJECT.Output(display_name="subject", tooltip="The subject, for Squeeze Subject Conditioning "
                                    "and Squeeze Subject Batch Sampler.")],
        )

    @classmethod
    def check_inputs(cls, subject_name: str, **_) -> bool | str:
        if subject_name not in folder_paths.get_filename_list(SUBJECT_FOLDER):
            return (f"{cls.DISPLAY}: no subject named '{subject_name}' in models/squeeze_subjects or "
                    f"output/squeeze_subjects; save one with Squeeze Subject Save and refresh, or pick one from "
                    f"the list")
        return True

    @classmethod
    def execute(cls, subject_name: str) -> io.NodeOutput:
        with node_errors(cls.DISPLAY):
            subject = load_subject(folder_paths.get_full_path(SUBJECT_FOLDER, subject_name))
        return io.NodeOutput(subject)
