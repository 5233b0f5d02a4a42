"""The multi-stage guider: ComfyUI's own CFG guider, with the conditioning streams gated per step.

Before each model call the stage schedule is read at the step's progress; the MLLM's image tokens
and each reference latent whose weight is 0 are left out of that call (a cheaper step). Steps
where every weight is on run the stock conditioning untouched, so the preset ``always`` is the
stock KSampler bit for bit. Everything else (sampler, scheduler, ControlNet, previews, interrupt)
is ComfyUI's own.
"""

from __future__ import annotations

import logging

import comfy.samplers
import torch

from ..squeeze_core.features import TokenRole
from ..squeeze_core.schedule import StageSchedule, progress_from_noise_level

from .conditioning import ROLES_KEY

logger = logging.getLogger("squeeze")


def step_progress(model_sampling, sigma: torch.Tensor) -> float:
    """Sampling progress of a step: 1 - t, with t the model's timestep scaled to 0..1 by the timestep at
    sigma_max (for flow models such as Qwen-Image and FLUX, t is the sigma itself)."""
    timestep = float(model_sampling.timestep(sigma.flatten()[:1].float()))
    top = float(model_sampling.timestep(torch.as_tensor(model_sampling.sigma_max, dtype=torch.float32)))
    return progress_from_noise_level(timestep / top)


def _gate(cond: dict, semantic_on: bool, identity_on: tuple[bool, ...]) -> dict:
    """A copy of one processed conditioning entry without the streams that are off."""
    model_conds = dict(cond["model_conds"])
    roles = cond.get(ROLES_KEY)
    context = model_conds.get("c_crossattn")
    if not semantic_on and roles is not None and context is not None and context.cond.shape[1] == roles.shape[1]:
        keep = (roles < TokenRole.IMAGE).all(dim=0).to(context.cond.device)
        model_conds["c_crossattn"] = type(context)(context.cond[:, keep])
    references = model_conds.get("ref_latents")
    if references is not None:
        kept = [latent for k, latent in enumerate(references.cond) if k >= len(identity_on) or identity_on[k]]
        if kept:
            model_conds["ref_latents"] = type(references)(kept)
        else:
            del model_conds["ref_latents"]
    gated = dict(cond)
    gated["model_conds"] = model_conds
    return gated


class SqueezeStageGuider(comfy.samplers.CFGGuider):
    def __init__(self, model_patcher, schedule: StageSchedule):
        super().__init__(model_patcher)
        self.schedule = schedule
        self._gated: dict[tuple, dict] = {}
        self._warned = False

    def _reference_count(self) -> int:
        counts = [len(c["model_conds"]["ref_latents"].cond) for conds in self.conds.values() if conds
                  for c in conds if "ref_latents" in c["model_conds"]]
        return max(counts, default=0)

    def _conds_for(self, semantic: float, identity: tuple[float, ...]) -> dict:
        if not self._warned and any(0.0 < w != 1.0 for w in (semantic, *identity)):
            logger.warning("Squeeze: weights between 0 and 1 (or above 1) act as fully on in this version")
            self._warned = True
        key = (semantic > 0.0, tuple(w > 0.0 for w in identity))
        if all((key[0], *key[1])):
            return self.conds
        if key not in self._gated:
            self._gated[key] = {name: None if conds is None else [_gate(c, *key) for c in conds]
                                for name, conds in self.conds.items()}
        return self._gated[key]

    def predict_noise(self, x, timestep, model_options={}, seed=None):
        weights = self.schedule.weights(step_progress(self.inner_model.model_sampling, timestep),
                                        (1.0,) * self._reference_count())
        conds = self._conds_for(weights.semantic, weights.identity)
        return comfy.samplers.sampling_function(self.inner_model, x, timestep, conds.get("negative"),
                                                conds.get("positive"), self.cfg, model_options=model_options,
                                                seed=seed)

    def inner_sample(self, *args, **kwargs):
        self._gated = {}
        try:
            return super().inner_sample(*args, **kwargs)
        finally:
            self._gated = {}
