"""The node set as a real ComfyUI server describes it in /object_info."""

import pytest

NODES = {
    "SqueezeMLLMLoader": ("Squeeze MLLM Loader", "squeeze/loaders", ["SQUEEZE_MLLM"]),
    "SqueezeMLLMEncode": ("Squeeze MLLM Joint Encode", "squeeze/conditioning", ["SQUEEZE_FEATURES"]),
    "SqueezeCLIPJointEncode": ("Squeeze CLIP Joint Encode", "squeeze/conditioning", ["SQUEEZE_FEATURES"]),
    "SqueezeDLALoader": ("Squeeze DLA Loader", "squeeze/loaders", ["SQUEEZE_DLA"]),
    "SqueezeDLAAggregate": ("Squeeze DLA Aggregate", "squeeze/conditioning", ["CONDITIONING"]),
    "SqueezeDLAView": ("Squeeze DLA View", "squeeze/conditioning", ["IMAGE"]),
    "SqueezeVAEIdentityEncode": ("Squeeze VAE Identity Encode", "squeeze/conditioning", ["CONDITIONING"]),
    "SqueezeReferenceStrengths": ("Squeeze Reference Strengths", "squeeze/conditioning", ["CONDITIONING"]),
    "SqueezeReferenceRegion": ("Squeeze Reference Region", "squeeze/conditioning", ["CONDITIONING"]),
    "SqueezeRegionPreview": ("Squeeze Region Preview", "squeeze/conditioning", ["IMAGE"]),
    "SqueezeMultiStageKSampler": ("Squeeze Multi-Stage KSampler", "squeeze/sampling", ["LATENT"]),
    "SqueezeStageGuider": ("Squeeze Stage Guider", "squeeze/sampling", ["GUIDER"]),
    "SqueezeSchedulePreview": ("Squeeze Schedule Preview", "squeeze/sampling", ["IMAGE"]),
    "SqueezeDiffusionModelLoader": ("Squeeze Diffusion Model Loader", "squeeze/loaders", ["MODEL"]),
    "SqueezeSideBySide": ("Squeeze Side by Side", "squeeze/image", ["IMAGE"]),
    "SqueezeSubjectEncode": ("Squeeze Subject Encode", "squeeze/subject", ["SQUEEZE_SUBJECT"]),
    "SqueezeSubjectConditioning": ("Squeeze Subject Conditioning", "squeeze/subject", ["CONDITIONING"]),
    "SqueezeSubjectBatchSampler": ("Squeeze Subject Batch Sampler", "squeeze/subject", ["LATENT", "STRING"]),
    "SqueezeSubjectSave": ("Squeeze Subject Save", "squeeze/subject", []),
    "SqueezeSubjectLoader": ("Squeeze Subject Loader", "squeeze/subject", ["SQUEEZE_SUBJECT"]),
}


@pytest.fixture(scope="module")
def object_info(comfy_server):
    return comfy_server.get("/object_info")


@pytest.mark.parametrize("node_id", list(NODES))
def test_every_node_is_listed_with_its_names(object_info, node_id):
    display, category, outputs = NODES[node_id]
    info = object_info[node_id]
    assert info["display_name"] == display
    assert info["category"] == category
    assert info["output"] == outputs
    assert len(info["description"]) > 40


@pytest.mark.parametrize("node_id", list(NODES))
def test_every_input_and_output_has_a_tooltip(object_info, node_id):
    info = object_info[node_id]
    for section in ("required", "optional"):
        for name, spec in info["input"].get(section, {}).items():
            options = spec[1] if len(spec) > 1 else {}
            assert options.get("tooltip"), f"{node_id}.{name} has no tooltip"
    assert all(info["output_tooltips"]), f"{node_id} has an output without a tooltip"


def test_only_the_pack_types_are_custom(object_info):
    custom = {t for node_id in NODES for t in object_info[node_id]["output"] if t.startswith("SQUEEZE_")}
    assert custom == {"SQUEEZE_MLLM", "SQUEEZE_FEATURES", "SQUEEZE_DLA", "SQUEEZE_SUBJECT"}
    ours = object_info["SqueezeMultiStageKSampler"]["input"]["required"]
    stock = object_info["KSampler"]["input"]["required"]
    for name in ("sampler_name", "scheduler"):
        assert ours[name][1]["options"] == stock[name][0], f"{name} must offer every stock choice"
