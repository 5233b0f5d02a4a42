"""The Dual Layer Aggregator on features from a real (tiny) Qwen2.5-VL."""

import pytest
import torch

from squeeze_core.dla import DLAConfig, DualLayerAggregator, base_conditioning
from squeeze_core.files import load_dla, save_dla
from squeeze_core.errors import DLAFileError, DLAMismatchError
from squeeze_core.features import TokenRole
from squeeze_core.tiny_models import TinyMLLMSpec, build_tiny_mllm
from squeeze_core.joint_encoder import JointEncoder

PICTURES = [torch.rand(1, 80, 120, 3, generator=torch.Generator().manual_seed(0)), torch.rand(1, 64, 64, 3)]


@pytest.fixture(scope="module")
def features(qwen25_encoder):
    return qwen25_encoder.encode(["put Picture 1 on Picture 2", "the toy, large, centred"], PICTURES)


def _small_dla(features, context_dim=None, seed=0):
    torch.manual_seed(seed)
    return DualLayerAggregator(DLAConfig.for_features(features, context_dim, pool_dim=32, pool_heads=4))


def _pipeline_style_conditioning(encoder, features):
    """What the Qwen-Image pipelines feed their transformer: the last hidden state, padding removed,
    the template prefix dropped, rows re-padded on the right."""
    drop = len(encoder.processor.tokenizer(encoder.prompt_format.prefix, add_special_tokens=False)["input_ids"])
    rows = [h[m.bool()][drop:] for h, m in zip(features.hidden_states[-1], features.attention_mask)]
    width = max(len(r) for r in rows)
    return torch.stack([torch.cat([r, r.new_zeros(width - len(r), r.shape[-1])]) for r in rows])


def test_untrained_dla_reproduces_the_base_conditioning(qwen25_encoder, features):
    dla = _small_dla(features).eval()
    with torch.no_grad():
        out = dla(features)
    expected = _pipeline_style_conditioning(qwen25_encoder, features)
    assert out.context.dtype == torch.float32
    assert out.context.shape == expected.shape
    assert (out.context - expected).abs().max().item() <= 1e-6
    base = base_conditioning(features)
    assert torch.equal(base.context, expected)
    assert torch.equal(out.attention_mask, base.attention_mask)
    assert set(out.roles[out.attention_mask.bool()].tolist()) == {int(TokenRole.TEXT), 3, 4}


def test_training_changes_the_output_and_reaches_every_part(features):
    dla = _small_dla(features, context_dim=48)
    with torch.no_grad():
        before = dla(features).context.clone()
    target = torch.randn_like(before, generator=torch.Generator().manual_seed(1))
    optimiser = torch.optim.Adam(dla.parameters(), lr=1e-2)
    for _ in range(4):
        optimiser.zero_grad()
        out = dla(features)
        loss = ((out.context - target) ** 2 * out.attention_mask[..., None]).mean()
        loss.backward()
        optimiser.step()
    after = dla(features).context
    assert (after - before).abs().max().item() > 1e-3
    for name in ("text_pooler.input_proj.weight", "text_pooler.output_proj.weight", "text_pooler.pool_query",
                 "image_pooler.input_proj.weight", "image_pooler.encoder.layers.0.linear1.weight",
                 "image_pooler.output_proj.weight", "text_gate", "image_gate", "context_proj.weight"):
        grad = dict(dla.named_parameters())[name].grad
        assert grad is not None and grad.abs().sum() > 0, name


def test_text_and_image_tokens_are_pooled_apart(features):
    dla = _small_dla(features)
    with torch.no_grad():
        dla.image_gate.fill_(1.0)
        out = dla(features)
    base = base_conditioning(features)
    changed = (out.context - base.context).abs().amax(dim=-1) > 0
    assert torch.equal(changed, out.roles >= TokenRole.IMAGE)


def test_a_shared_pooler_is_a_dual_dla_whose_poolers_are_equal(tmp_path, features):
    """The ablation of the dual design: one pooler for text and image tokens (each keeps its gate); it
    saves and loads like any DLA."""
    torch.manual_seed(0)
    shared = DualLayerAggregator(DLAConfig.for_features(features, pool_dim=32, pool_heads=4, shared_pooler=True))
    assert not any(name.startswith("image_pooler") for name in shared.state_dict())
    dual = _small_dla(features)
    with torch.no_grad():
        for dla in (shared, dual):
            dla.text_gate.fill_(1.0)
            dla.image_gate.fill_(0.5)
        dual.text_pooler.load_state_dict(shared.text_pooler.state_dict())
        dual.image_pooler.load_state_dict(shared.text_pooler.state_dict())
        assert torch.equal(shared.eval()(features).context, dual.eval()(features).context)
    save_dla(shared, tmp_path / "shared.safetensors")
    loaded = load_dla(tmp_path / "shared.safetensors")
    assert loaded.config.shared_pooler
    with torch.no_grad():
        assert torch.equal(loaded.eval()(features).context, shared(features).context)


def test_save_then_load_is_bit_exact(tmp_path, features):
    dla = _small_dla(features, context_dim=40, seed=3)
    with torch.no_grad():
        for parameter in dla.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.1)
    path = tmp_path / "dla.safetensors"
    save_dla(dla, path)
    loaded = load_dla(path)
    assert loaded.config == dla.config
    for (name, a), (_, b) in zip(dla.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), name
    with torch.no_grad():
        assert torch.equal(dla.eval()(features).context, loaded.eval()(features).context)


def test_a_dla_for_another_mllm_is_refused_with_both_values(tmp_path, features, tiny_mllm_root):
    dla = _small_dla(features)
    path = tmp_path / "dla.safetensors"
    save_dla(dla, path)
    with pytest.raises(DLAMismatchError, match=r"width 32.*width 64"):
        load_dla(path, mllm_hidden_size=64)
    with pytest.raises(DLAMismatchError, match=r"4 layers.*6"):
        load_dla(path, mllm_num_layers=6)
    wider = build_tiny_mllm(tiny_mllm_root / "wide", TinyMLLMSpec(hidden_size=64, num_layers=6))
    other = JointEncoder.from_folder(wider).encode("a toy")
    with pytest.raises(DLAMismatchError, match=r"width 32 but the features have width 64"):
        load_dla(path)(other)


def test_missing_layers_are_named(features):
    dla = _small_dla(features)
    with pytest.raises(DLAMismatchError, match=r"layers \[1, 2, 3\] were not captured"):
        dla(features.select_layers((0, 4)))


def test_files_that_are_not_dlas_are_refused(tmp_path):
    fake = tmp_path / "fake.safetensors"
    fake.write_bytes(b"\x80\x04 not a safetensors file")
    with pytest.raises(DLAFileError, match="not a readable safetensors"):
        load_dla(fake)
    from safetensors.torch import save_file

    plain = tmp_path / "plain.safetensors"
    save_file({"weight": torch.zeros(2)}, str(plain))
    with pytest.raises(DLAFileError, match="not a Squeeze DLA"):
        load_dla(plain)
    with pytest.raises(DLAFileError, match="no DLA file"):
        load_dla(tmp_path / "absent.safetensors")


def test_config_requires_the_final_layer():
    with pytest.raises(ValueError, match="final one"):
        DLAConfig(mllm_hidden_size=8, mllm_num_layers=4, layer_indices=(0, 2), context_dim=8)
