"""Region binding in a real server, on every reference-latent family: a region that binds nothing is no region at
all (bit for bit), and a hard region confines its reference. The models have one block (FLUX: one double block,
no single blocks) and sample one step, so a target token's output depends only on what it attends to in that
block: changing reference 1 must then leave every token outside its region exactly as it was."""

from __future__ import annotations

import pytest
import torch

from tests.harness.graphs import add_region, add_sampler, family_graph, multi_stage, write_reference
from tests.harness.weight_checks import gap, run_latents
from tests.test_model_families import FAMILIES, METHOD


@pytest.fixture(scope="module")
def offered(comfy_server) -> set[str]:
    return set(comfy_server.get("/object_info/SqueezeTestTinyModel")["SqueezeTestTinyModel"]["input"]["required"]
               ["family"][0])


@pytest.fixture(scope="module", params=FAMILIES)
def region_latents(request, comfy_server, comfyui_tree, offered):
    family = request.param
    if family not in offered:
        pytest.skip(f"ComfyUI {comfyui_tree.version} has no {family}")
    graph = family_graph(family, write_reference(comfy_server.base, "region_subject.png"), steps=1,
                         method=METHOD.get(family))
    graph["model"]["inputs"]["flux_single_blocks"] = 0
    always = multi_stage("always")
    for chain in ("12", "32"):
        add_sampler(graph, f"plain_{chain}", always, positive=[f"refs_{chain}", 0])
        add_sampler(graph, f"hard_{chain}", always, positive=add_region(graph, f"hard_{chain}", [f"refs_{chain}", 0]))
    hard = ["hard_12", 0]
    add_sampler(graph, "soft_12", always, positive=add_region(graph, "soft", ["refs_12", 0], strength=0.5))
    add_sampler(graph, "whole_12", always, positive=add_region(graph, "whole", ["refs_12", 0], box=(0, 0, 1, 1)))
    add_sampler(graph, "off_12", always, positive=add_region(graph, "off", ["refs_12", 0], strength=0.0))
    add_sampler(graph, "released_12", multi_stage("always", release_regions_at=0.0), positive=hard)
    add_sampler(graph, "pictures_only", multi_stage("always", identity_strength=0.0), positive=["refs_12", 0])
    add_sampler(graph, "pictures_only_hard", multi_stage("always", identity_strength=0.0), positive=hard)
    for method in ("fold", "mask"):
        graph[method] = {"class_type": "SqueezeTestKeyWeightMethod", "inputs": {"model": ["model", 0],
                                                                                 "method": method}}
        add_sampler(graph, f"{method}_hard_12", always, positive=hard, model=[method, 0])
    return run_latents(comfy_server, graph)


def _halves(latent: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The left half (inside the box (0, 0, 0.5, 1)) and the right half of a latent."""
    width = latent.shape[-1]
    return latent[..., :width // 2], latent[..., width // 2:]


@pytest.mark.parametrize("name", ["whole_12", "off_12", "released_12"])
def test_a_region_that_binds_nothing_is_no_region_bit_for_bit(region_latents, name):
    assert torch.equal(region_latents[name], region_latents["plain_12"])


def test_a_hard_region_confines_its_reference(region_latents):
    inside_12, outside_12 = _halves(region_latents["hard_12"])
    inside_32, outside_32 = _halves(region_latents["hard_32"])
    assert gap(outside_12, outside_32) <= 1e-5
    assert gap(inside_12, inside_32) > 1e-3
    unbound = [_halves(region_latents[f"plain_{chain}"])[1] for chain in ("12", "32")]
    assert gap(*unbound) > 1e-3, "without a region the reference reaches the right half (the test can fail)"


def test_a_soft_region_lies_between_none_and_hard(region_latents):
    plain, soft, hard = (_halves(region_latents[name])[1] for name in ("plain_12", "soft_12", "hard_12"))
    span = (plain - hard).abs().mean().item()
    to_plain, to_hard = (soft - plain).abs().mean().item(), (soft - hard).abs().mean().item()
    assert span > 1e-3 and 0.05 * span < to_plain < span and 0.05 * span < to_hard < span


def test_a_region_binds_its_pictures_image_tokens_too(region_latents):
    inside, outside = _halves(region_latents["pictures_only_hard"])
    free_inside, free_outside = _halves(region_latents["pictures_only"])
    assert gap(inside, free_inside) <= 1e-5
    assert gap(outside, free_outside) > 1e-3


def test_the_fold_gpus_use_gives_what_the_mask_gives(region_latents):
    assert gap(region_latents["fold_hard_12"], region_latents["mask_hard_12"]) <= 1e-4
    assert gap(region_latents["mask_hard_12"], region_latents["hard_12"]) <= 1e-6
