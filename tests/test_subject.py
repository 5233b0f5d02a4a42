"""A subject encoded once (pictures' MLLM prefix and VAE latents) and reused: the same features as a full joint
encoding, on every MLLM family, and the same after a trip through its safetensors file."""

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from squeeze_core.errors import InvalidImageError, PromptError, SubjectFileError
from squeeze_core.files import load_subject, save_subject
from squeeze_core.identity import encode_identity
from squeeze_core.joint_encoder import JointEncoder
from squeeze_core.prompts import PromptFormat
from squeeze_core.subject import encode_subject
from squeeze_core.tiny_vae import build_tiny_vae

PICTURES = [torch.rand(1, 48, 64, 3, generator=torch.Generator().manual_seed(3)),
            torch.rand(1, 40, 40, 3, generator=torch.Generator().manual_seed(4))]
PROMPTS = ["put the subject of Picture 1 on a beach at sunset", "make it red", " "]


def _assert_same_rows(reused, full_batch, tolerance=1e-5):
    for row in range(full_batch.batch_size):
        length = int(full_batch.attention_mask[row].sum())
        assert int(reused.attention_mask[row].sum()) == length
        assert torch.equal(reused.roles[row, :length], full_batch.roles[row, :length])
        difference = (reused.hidden_states[:, row, :length] - full_batch.hidden_states[:, row, :length]).abs().max()
        assert difference < tolerance, f"row {row}: {difference}"


@pytest.mark.parametrize("count", [1, 2])
def test_reused_pictures_give_the_full_joint_encoding(encoder, count):
    subject = encode_subject(encoder, PICTURES[:count])
    reused = subject.encode(encoder, PROMPTS)
    for row, prompt in enumerate(PROMPTS):
        alone = encoder.encode(prompt, PICTURES[:count])
        single = subject.encode(encoder, prompt)
        _assert_same_rows(single, alone)
        assert reused.hidden_states.shape[0] == alone.hidden_states.shape[0]
        length = alone.hidden_states.shape[2]
        assert (reused.hidden_states[:, row, :length] - alone.hidden_states[:, 0]).abs().max() < 1e-5
    _assert_same_rows(reused, encoder.encode(PROMPTS, PICTURES[:count]))
    assert reused.num_images == count and reused.layer_indices == alone.layer_indices


def test_layers_and_unlabelled_pictures(qwen25_encoder):
    subject = encode_subject(qwen25_encoder, PICTURES, picture_labels=False)
    reused = subject.encode(qwen25_encoder, PROMPTS[0], layers=[0, -1])
    full = qwen25_encoder.encode(PROMPTS[0], PICTURES, layers=[0, -1], picture_labels=False)
    assert reused.layer_indices == full.layer_indices == (0, qwen25_encoder.num_layers)
    _assert_same_rows(reused, full)


def test_a_subject_file_round_trips_exactly(tmp_path, qwen25_encoder):
    vae = build_tiny_vae()
    subject = encode_subject(qwen25_encoder, PICTURES, vae, identity_pixel_budget=64 * 64)
    expected = encode_identity(PICTURES, vae, pixel_budget=64 * 64)
    assert all(torch.equal(a, b) for a, b in zip(subject.latents, expected)) and len(subject.latents) == 2
    path = tmp_path / "toy.safetensors"
    save_subject(subject, path)
    loaded = load_subject(path)
    assert all(torch.equal(a, b) for a, b in zip(loaded.pictures, subject.pictures))
    assert all(torch.equal(a, b) for a, b in zip(loaded.latents, subject.latents))
    assert loaded.prefix.position_delta == subject.prefix.position_delta
    before, after = subject.encode(qwen25_encoder, PROMPTS), loaded.encode(qwen25_encoder, PROMPTS)
    assert torch.equal(before.hidden_states, after.hidden_states) and torch.equal(before.roles, after.roles)


def test_a_subject_is_reused_only_by_the_mllm_and_format_that_encoded_it(tiny_mllm_folder, qwen25_encoder):
    subject = encode_subject(qwen25_encoder, PICTURES[:1])
    other = JointEncoder.from_folder(tiny_mllm_folder("qwen2_vl"))
    with pytest.raises(PromptError, match="encode the subject again"):
        subject.encode(other, PROMPTS[0])
    reformatted = JointEncoder(qwen25_encoder.model, qwen25_encoder.processor, source=qwen25_encoder.source,
                               prompt_format=PromptFormat(template="<|im_start|>user\n{}<|im_end|>\n"))
    with pytest.raises(PromptError, match="encode the subject again"):
        subject.encode(reformatted, PROMPTS[0])
    with pytest.raises(InvalidImageError, match="at least one picture"):
        encode_subject(qwen25_encoder, [])


def test_files_that_are_not_subjects_are_refused(tmp_path, qwen25_encoder):
    foreign = tmp_path / "weights.safetensors"
    save_file({"w": torch.zeros(2)}, str(foreign))
    with pytest.raises(SubjectFileError, match="not a Squeeze subject"):
        load_subject(foreign)
    path = tmp_path / "cut.safetensors"
    save_subject(encode_subject(qwen25_encoder, PICTURES[:1]), path)
    tensors_dropped = tmp_path / "partial.safetensors"
    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata()
        kept = {name: handle.get_tensor(name) for name in handle.keys() if name != "prefix.keys.0"}
    save_file(kept, str(tensors_dropped), metadata=metadata)
    with pytest.raises(SubjectFileError, match="not a complete subject file"):
        load_subject(tensors_dropped)
