"""The multi-stage guider: ComfyUI's own CFG guider, with the conditioning streams weighted per step.

Before each model call the stage schedule is read at the step's progress, giving a weight for the
MLLM's image tokens and one per reference latent (scaled by that reference's strength). Weight 0
leaves those tokens out of the call (a cheaper step); weights strictly between 0 and 2 other than 1
scale their attention (see key_weights); when every weight is 1 the stock conditioning runs
untouched, so the preset ``always`` is the stock KSampler bit for bit. Everything else (sampler,
scheduler, ControlNet, previews, interrupt) is ComfyUI's own, and every change lives in per-call
copies of the conds and model options, so nothing survives a finished, failed or interrupted run.
"""

from __future__ import annotations

import comfy.samplers
import torch

from ..squeeze_core.features import TokenRole
from ..squeeze_core.schedule import StageSchedule, progress_from_noise_level

from .conditioning import REFERENCE_STRENGTHS_KEY, ROLES_KEY
from .key_weights import REFERENCE_KEY, TEXT_KEY, key_weights_wrapper, reference_log_weights, text_log_weights


def step_progress(model_sampling, sigma: torch.Tensor) -> float:
    """Sampling progress of a step: 1 - t, with t the model's timestep scaled to 0..1 by the timestep at
    sigma_max (for flow models such as Qwen-Image and FLUX, t is the sigma itself)."""
    timestep = float(model_sampling.timestep(sigma.flatten()[:1].float()))
    top = float(model_sampling.timestep(torch.as_tensor(model_sampling.sigma_max, dtype=torch.float32)))
    return progress_from_noise_level(timestep / top)


def _image_tokens(cond: dict, context: torch.Tensor) -> torch.Tensor | None:
    """[T] bool: the context tokens that are MLLM image tokens (None if the roles are unknown)."""
    roles = cond.get(ROLES_KEY)
    if roles is None or roles.shape[1] != context.shape[1]:
        return None
    return (roles >= TokenRole.IMAGE).any(dim=0).to(context.device)


def _weighted(cond: dict, schedule: StageSchedule, progress: float) -> tuple[dict, bool]:
    """One processed conditioning entry with this step's weights applied, and whether anything changed."""
    model_conds = dict(cond["model_conds"])
    changed = False
    context = model_conds.get("c_crossattn")
    image_tokens = None if context is None else _image_tokens(cond, context.cond)
    semantic = schedule.semantic_weight(progress)
    if image_tokens is not None and bool(image_tokens.any()) and semantic != 1.0:
        changed = True
        if semantic == 0.0:
            model_conds["c_crossattn"] = type(context)(context.cond[:, ~image_tokens])
        else:
            model_conds[TEXT_KEY] = text_log_weights(image_tokens, semantic)
    references = model_conds.get("ref_latents")
    if references is not None:
        strengths = list(cond.get(REFERENCE_STRENGTHS_KEY, ()))
        strengths += [1.0] * (len(references.cond) - len(strengths))
        weights = [schedule.identity_weight(progress, strength) for strength in strengths]
        if any(weight != 1.0 for weight in weights):
            changed = True
            kept = [k for k, weight in enumerate(weights) if weight > 0.0]
            if kept:
                model_conds["ref_latents"] = type(references)([references.cond[k] for k in kept])
                if any(weights[k] != 1.0 for k in kept):
                    model_conds[REFERENCE_KEY] = reference_log_weights([weights[k] for k in kept])
            else:
                del model_conds["ref_latents"]
    return {**cond, "model_conds": model_conds}, changed


class StageGuider(comfy.samplers.CFGGuider):
    """CFG guidance whose conds follow a StageSchedule; a stock GUIDER for SamplerCustomAdvanced."""

    def __init__(self, model_patcher, schedule: StageSchedule):
        super().__init__(model_patcher)
        self.schedule = schedule
        self._last: tuple[float, dict, bool] | None = None

    def _conds_at(self, progress: float) -> tuple[dict, bool]:
        if self._last is None or self._last[0] != progress:
            weighted, changed = {}, False
            for name, conds in self.conds.items():
                if conds is None:
                    weighted[name] = None
                    continue
                entries = [_weighted(cond, self.schedule, progress) for cond in conds]
                weighted[name] = [entry for entry, _ in entries]
                changed = changed or any(flag for _, flag in entries)
            self._last = (progress, weighted if changed else self.conds, changed)
        return self._last[1], self._last[2]

    def predict_noise(self, x, timestep, model_options={}, seed=None):
        conds, changed = self._conds_at(step_progress(self.inner_model.model_sampling, timestep))
        if changed:
            patch_size = getattr(self.inner_model.diffusion_model, "patch_size", 2)
            model_options = {**model_options, "model_function_wrapper": key_weights_wrapper(
                patch_size, model_options.get("model_function_wrapper"))}
        return comfy.samplers.sampling_function(self.inner_model, x, timestep, conds.get("negative"),
                                                conds.get("positive"), self.cfg, model_options=model_options,
                                                seed=seed)

    def inner_sample(self, *args, **kwargs):
        self._last = None
        try:
            return super().inner_sample(*args, **kwargs)
        finally:
            self._last = None
