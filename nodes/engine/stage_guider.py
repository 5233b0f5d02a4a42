"""The multi-stage guider: ComfyUI's own CFG guider, with the conditioning streams weighted per step.

Before each model call the stage schedule is read at the step's progress, giving a weight for the
MLLM's image tokens, one per reference latent (scaled by that reference's strength) and the share of
each reference's region binding that holds (see region_binding). Weight 0
leaves those tokens out of the call (a cheaper step); weights strictly between 0 and 2 other than 1
scale their attention (see key_weights); when every weight is 1 the stock conditioning runs
untouched, so the preset ``always`` is the stock KSampler bit for bit. Everything else (sampler,
scheduler, ControlNet, previews, interrupt) is ComfyUI's own, and every change lives in per-call
copies of the conds and model options, so nothing survives a finished, failed or interrupted run.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import comfy.samplers
import torch

from ...squeeze_core.region_binding import bind_references, binding_strengths
from ...squeeze_core.schedule import StageSchedule, progress_from_noise_level
from ...squeeze_core.stream_weights import StepPlan, plan_step

from ..types import REFERENCE_STRENGTHS_KEY, REGIONS_KEY, ROLES_KEY
from .context_tokens import ImageTokens, locate_image_tokens
from ..errors import SqueezeNodeError
from .key_weights import (
    METHOD_OPTION, REFERENCE_KEY, TEXT_KEY, JointLayout, key_weights_wrapper, reference_log_weights, region_conds,
    model_patch_size, text_log_weights, token_grid,
)

logger = logging.getLogger("squeeze")


def step_progress(model_sampling, sigma: torch.Tensor) -> float:
    """Sampling progress of a step: 1 - t, with t the model's timestep scaled to 0..1 by the timestep at
    sigma_max (for flow models such as Qwen-Image and FLUX, t is the sigma itself)."""
    timestep = float(model_sampling.timestep(sigma.flatten()[:1].float()))
    top = float(model_sampling.timestep(torch.as_tensor(model_sampling.sigma_max, dtype=torch.float32)))
    return progress_from_noise_level(timestep / top)


def _bound_regions(plan: StepPlan, regions: list, grid: tuple[int, int, int] | None, context_length: int,
                   image_tokens: ImageTokens | None) -> dict:
    """The region conds of the references that bind at this step (none for a binding that changes nothing)."""
    def picture_tokens(k: int) -> torch.Tensor:
        if image_tokens is None or plan.drop_image_tokens:
            return torch.zeros(context_length, dtype=torch.bool)
        return image_tokens.picture(k).cpu()

    bound = None if grid is None else bind_references(plan, regions, grid, picture_tokens)
    return {} if bound is None else region_conds(bound)


def _weighted(cond: dict, schedule: StageSchedule, progress: float, grid: tuple[int, int, int] | None,
              warn) -> tuple[dict, bool]:
    """One processed conditioning entry with this step's plan applied, and whether anything changed; ``grid``
    is the target's token grid (None: unknown, so no region can bind); ``warn(message)`` hears of a semantic
    weight that cannot be applied."""
    model_conds = dict(cond["model_conds"])
    context = model_conds.get("c_crossattn")
    image_tokens = None
    if context is not None and cond.get(ROLES_KEY) is not None:
        image_tokens = locate_image_tokens(cond[ROLES_KEY], cond.get("cross_attn"), context.cond)
    references = model_conds.get("ref_latents")
    count = 0 if references is None else len(references.cond)
    strengths = list(cond.get(REFERENCE_STRENGTHS_KEY, ()))[:count]
    weights = schedule.weights(progress, strengths + [1.0] * (count - len(strengths)))
    regions = list(cond.get(REGIONS_KEY, ()))
    if image_tokens is None or not bool(image_tokens.mask.any()):
        if image_tokens is None and cond.get(ROLES_KEY) is not None and weights.semantic != 1.0:
            warn("its context does not hold the conditioning's tokens where the MLLM token roles say, so the "
                 "semantic weight (the MLLM's image tokens) is not applied")
        weights = replace(weights, semantic=1.0)
    plan = plan_step(weights, count, binding_strengths(regions))
    if plan.untouched:
        return cond, False
    if plan.drop_image_tokens:
        model_conds["c_crossattn"] = type(context)(image_tokens.cut(context.cond))
        padding = model_conds.get("attention_mask")
        if padding is not None and padding.cond.shape[-1] == image_tokens.tokens == image_tokens.mask.shape[0]:
            model_conds["attention_mask"] = type(padding)(image_tokens.cut(padding.cond[..., None])[..., 0])
    elif plan.image_log_weight != 0.0:
        model_conds[TEXT_KEY] = text_log_weights(image_tokens.mask, plan.image_log_weight)
    if count and not plan.kept_references:
        del model_conds["ref_latents"]
    elif count:
        model_conds["ref_latents"] = type(references)([references.cond[k] for k in plan.kept_references])
        if any(plan.reference_log_weights):
            model_conds[REFERENCE_KEY] = reference_log_weights(plan.reference_log_weights)
    final_context = model_conds.get("c_crossattn")
    bound = _bound_regions(plan, regions, grid, 0 if final_context is None else final_context.cond.shape[1],
                           image_tokens)
    if replace(plan, bindings=()).untouched and not bound:
        return cond, False
    model_conds.update(bound)
    return {**cond, "model_conds": model_conds}, True


def _has_reference_kv_cache(model_options: dict) -> bool:
    """Whether ComfyUI's FluxKVCache (an attn1 patch of class KV_Attn_Input) is on the model."""
    patches = model_options.get("transformer_options", {}).get("patches", {}).get("attn1_patch", [])
    return any(type(patch).__name__ == "KV_Attn_Input" for patch in patches)


class StageGuider(comfy.samplers.CFGGuider):
    """CFG guidance whose conds follow a StageSchedule; a stock GUIDER for SamplerCustomAdvanced."""

    def __init__(self, model_patcher, schedule: StageSchedule, key_weight_method: str = "auto"):
        super().__init__(model_patcher)
        self.schedule = schedule
        self.key_weight_method = key_weight_method
        self._last: tuple[float, dict, bool] | None = None
        self._warned: set[str] = set()

    def _conds_at(self, progress: float, grid: tuple[int, int, int] | None) -> tuple[dict, bool]:
        if self._last is None or self._last[0] != (progress, grid):
            weighted, changed = {}, False
            for name, conds in self.conds.items():
                if conds is None:
                    weighted[name] = None
                    continue
                entries = [_weighted(cond, self.schedule, progress, grid, self._warn) for cond in conds]
                weighted[name] = [entry for entry, _ in entries]
                changed = changed or any(flag for _, flag in entries)
            self._last = ((progress, grid), weighted if changed else self.conds, changed)
        return self._last[1], self._last[2]

    def predict_noise(self, x, timestep, model_options={}, seed=None):
        patch_size = model_patch_size(self.inner_model.diffusion_model)
        grid = None if patch_size is None else token_grid(x, patch_size)
        conds, changed = self._conds_at(step_progress(self.inner_model.model_sampling, timestep), grid)
        if changed:
            if _has_reference_kv_cache(model_options):
                self._warn("FluxKVCache keeps the references' keys and values from the first step that uses them, so "
                           "a semantic weight that changes later does not reach the cached reference tokens (their "
                           "identity weights still apply); the result is as approximate as the cache itself")
            model_options = {**model_options, "model_function_wrapper": key_weights_wrapper(
                patch_size, self._warn_unweighted,
                model_options.get("model_function_wrapper"),
                model_options.get(METHOD_OPTION, self.key_weight_method))}
        return comfy.samplers.sampling_function(self.inner_model, x, timestep, conds.get("negative"),
                                                conds.get("positive"), self.cfg, model_options=model_options,
                                                seed=seed)

    def _warn(self, problem: str) -> None:
        """Each problem once per run, naming the model: a weight the pack could not apply as asked."""
        if problem in self._warned:
            return
        self._warned.add(problem)
        model = f"{type(self.inner_model.model_config).__name__} ({type(self.inner_model.diffusion_model).__name__})"
        logger.warning("Squeeze stage sampler, %s model: %s.", model, problem)

    def _warn_unweighted(self, layout: JointLayout) -> None:
        self._warn(f"it never attended over the joint sequence the stream weights were laid out for "
                   f"({layout.describe()}), so weights other than 0 and 1 had no effect in this run; weights 0 and "
                   f"1 still apply. Its token layout is one the pack cannot weight (are its references used at "
                   f"all, e.g. is a reference method set?)")

    def sample(self, noise, latent_image, *args, **kwargs):
        expected = self.model_patcher.get_model_object("latent_format").latent_channels
        if latent_image.ndim >= 4 and latent_image.shape[1] != expected:
            raise SqueezeNodeError(
                f"Squeeze stage sampler: the latent has {latent_image.shape[1]} channels but this model works on "
                f"{expected}; make it with this model's own VAE (VAE Encode) or with an empty latent for it "
                f"(EmptySD3LatentImage for Qwen-Image, FLUX.1 and Krea 2, EmptyFlux2LatentImage for FLUX.2)")
        return super().sample(noise, latent_image, *args, **kwargs)

    def inner_sample(self, *args, **kwargs):
        self._last = None
        self._warned.clear()
        try:
            return super().inner_sample(*args, **kwargs)
        finally:
            self._last = None
