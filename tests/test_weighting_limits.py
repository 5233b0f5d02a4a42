"""What the pack cannot weight exactly is said by name in the server log, never a silent no-op; weights 0
and 1 keep working there. Both cases exist from ComfyUI 0.33 on (Krea 2, FluxKVCache)."""

from __future__ import annotations

import pytest

from tests.harness.graphs import add_region, add_sampler, family_graph, multi_stage, write_reference
from tests.harness.weight_checks import gap, run_latents


def _offered(server) -> set[str]:
    return set(server.get("/object_info/SqueezeTestTinyModel")["SqueezeTestTinyModel"]["input"]["required"]
               ["family"][0])


def test_references_the_model_ignores_are_named(comfy_server, comfyui_tree):
    """Krea 2 uses its references only with a reference method set; without one its joint sequence has no
    reference tokens, so identity weights between 0 and 1 cannot act: the log says so, naming the model."""
    if "krea2" not in _offered(comfy_server):
        pytest.skip(f"ComfyUI {comfyui_tree.version} has no Krea 2")
    graph = family_graph("krea2", write_reference(comfy_server.base, "limits_subject.png"), seed=21)
    add_sampler(graph, "identity_half", multi_stage("always", identity_strength=0.5))
    add_sampler(graph, "identity_0", multi_stage("always", identity_strength=0.0))
    add_sampler(graph, "without_references", positive=["refs_0", 0])
    before = len(comfy_server.log_text())
    latents = run_latents(comfy_server, graph)
    log = comfy_server.log_text()[before:]
    assert "Squeeze stage sampler, Krea2" in log and "never attended over the joint sequence" in log, log[-3000:]
    assert gap(latents["identity_0"], latents["without_references"]) <= 1e-5


def test_flux_kv_cache_is_named_and_weights_still_apply(comfy_server, comfyui_tree):
    """FluxKVCache (FLUX.2) caches the references' keys and values: the weights and a region binding still
    reach them, as approximately as the cache reaches the stock result, and the log names the cache."""
    object_info = comfy_server.get("/object_info")
    if "FluxKVCache" not in object_info or "flux2" not in _offered(comfy_server):
        pytest.skip(f"ComfyUI {comfyui_tree.version} has no FluxKVCache")
    graph = family_graph("flux2", write_reference(comfy_server.base, "limits_subject.png"), seed=22,
                         method="index_timestep_zero")
    graph["kv"] = {"class_type": "FluxKVCache", "inputs": {"model": ["model", 0]}}
    for model in ("model", "kv"):
        for name, sampler in (("stock", None), ("identity_half", multi_stage("always", identity_strength=0.5)),
                              ("paper", multi_stage("paper"))):
            add_sampler(graph, f"{model}_{name}", sampler, positive=["refs_12", 0], model=[model, 0])
        add_sampler(graph, f"{model}_region", multi_stage("always"), model=[model, 0],
                    positive=add_region(graph, f"{model}_left_half", ["refs_12", 0]))
    before = len(comfy_server.log_text())
    latents = run_latents(comfy_server, graph)
    log = comfy_server.log_text()[before:]
    assert "Squeeze stage sampler, Flux2" in log and "FluxKVCache" in log, log[-3000:]
    assert "never attended" not in log, "the cached steps attend from text and target only; they are bound too"
    cache_error = gap(latents["kv_stock"], latents["model_stock"])
    for name in ("identity_half", "paper", "region"):
        assert gap(latents[f"kv_{name}"], latents[f"model_{name}"]) <= 1.5 * cache_error + 1e-4
        assert gap(latents[f"kv_{name}"], latents["kv_stock"]) > 10 * cache_error
