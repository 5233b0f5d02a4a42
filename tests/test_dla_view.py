"""The view into a DLA: its pooling weights over the MLLM's layers, drawn per stream, from the core, the CLI and a
node in a real ComfyUI server."""

import os

import numpy as np
import pytest
import torch
from PIL import Image

from squeeze_core.cli import main
from squeeze_core.dla import DLAConfig, DualLayerAggregator
from squeeze_core.dla_view import PANEL_WIDTH, render_layer_weights, stream_weights
from squeeze_core.features import TokenRole
from tests.harness.graphs import write_reference
from tools.comfyui_server import execution_error

PICTURE = torch.rand(1, 64, 96, 3, generator=torch.Generator().manual_seed(2))
READ_SLOT = 2


@pytest.fixture(scope="module")
def features(qwen25_encoder):
    return qwen25_encoder.encode(["put Picture 1 in the snow", "large"], [PICTURE])


def _reading_one_slot(features, slot: int) -> DualLayerAggregator:
    """A DLA whose text pooler puts nearly all its weight on layer slot ``slot``: its layer-axis block passes states
    through (both residual branches zero), input projection zero, so each slot's state is its layer embedding, and
    the pooling query points at that slot's."""
    dla = DualLayerAggregator(DLAConfig.for_features(features, pool_dim=16, pool_heads=4))
    pooler = dla.text_pooler
    block = pooler.encoder.layers[0]
    with torch.no_grad():
        for branch in (block.self_attn.out_proj, block.linear2):
            branch.weight.zero_()
            branch.bias.zero_()
        pooler.input_proj.weight.zero_()
        pooler.input_proj.bias.zero_()
        pooler.layer_embedding.copy_(torch.eye(len(features.layer_indices), 16) * 10)
        pooler.pool_query.copy_(pooler.pool_norm(pooler.layer_embedding)[slot])
    return dla


def test_the_weights_follow_what_the_pooler_reads(features):
    view = _reading_one_slot(features, READ_SLOT).layer_weights(features)
    kept = view.roles >= TokenRole.TEXT
    assert torch.allclose(view.weights[kept].sum(dim=-1), torch.ones(int(kept.sum())), atol=1e-5)
    assert torch.all(view.weights[~kept] == 0)
    for item in range(2):
        streams = stream_weights(view, item)
        assert len(streams["image"]) == features.image_token_counts()[item][0]
        assert torch.all(streams["text"].argmax(dim=-1) == READ_SLOT)
        assert float(streams["text"][:, READ_SLOT].min()) > 0.9
        assert float(streams["image"][:, READ_SLOT].max()) < 0.9
    assert view.text_gate == view.image_gate == 0.0


def test_the_picture_shows_the_layer_read(features):
    view = _reading_one_slot(features, READ_SLOT).layer_weights(features)
    for per_token in (False, True):
        picture = render_layer_weights(view, per_token=per_token)
        assert picture.shape == (264, 2 * PANEL_WIDTH, 3) and picture.dtype == np.uint8
        text_panel = picture[40:230, 24:PANEL_WIDTH - 24].astype(int).sum(axis=(0, 2))
        slots = np.array_split(text_panel, len(view.layer_indices))
        assert int(np.argmax([slot.sum() for slot in slots])) == READ_SLOT


def test_the_cli_draws_the_shipped_miniatures_dla(tmp_path):
    reference = tmp_path / "subject.png"
    Image.fromarray((PICTURE[0].numpy() * 255).astype(np.uint8)).save(reference)
    out = tmp_path / "view.png"
    main(["dla-view", "--reference", str(reference), "--prompt", "put it in the top left", "--per-token",
          "--out", str(out)])
    assert Image.open(out).size == (2 * PANEL_WIDTH, 264)


def test_the_node_draws_in_a_real_server(comfy_server):
    name = write_reference(comfy_server.base, "dla_view_subject.png")
    graph = {
        "mllm": {"class_type": "SqueezeMLLMLoader", "inputs": {"mllm_name": "squeeze-miniature-mllm",
                                                               "dtype": "float32"}},
        "dla": {"class_type": "SqueezeDLALoader", "inputs": {"dla_name": "squeeze_miniature_dla.safetensors"}},
        "image": {"class_type": "LoadImage", "inputs": {"image": name}},
        "encode": {"class_type": "SqueezeMLLMEncode", "inputs": {"mllm": ["mllm", 0], "prompt": "put it on sand",
                                                                 "image1": ["image", 0], "vision_resolution": 112,
                                                                 "picture_labels": True}},
        "view": {"class_type": "SqueezeDLAView", "inputs": {"dla": ["dla", 0], "features": ["encode", 0],
                                                            "per_token": False}},
        "save": {"class_type": "SaveImage", "inputs": {"images": ["view", 0], "filename_prefix": "dla_view"}},
    }
    entry = comfy_server.run(graph)
    assert entry["status"]["status_str"] == "success", execution_error(entry) or comfy_server.log_tail()
    saved = entry["outputs"]["save"]["images"][0]
    picture = Image.open(os.path.join(comfy_server.base, "output", saved["subfolder"], saved["filename"]))
    assert picture.size == (2 * PANEL_WIDTH, 264)
