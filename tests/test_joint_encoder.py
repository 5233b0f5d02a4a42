"""Joint encoding on tiny Qwen2-VL, Qwen2.5-VL and Qwen3-VL (and LLaVA) built from their real transformers classes."""

import os
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from squeeze_core.errors import InvalidImageError, ModelFolderError, PromptError
from squeeze_core.features import TokenRole, image_role
from squeeze_core.images import resize_to_area, to_image_batch
from squeeze_core.joint_encoder import JointEncoder
from squeeze_core.prompts import PromptFormat
from squeeze_core.tiny_models import TinyMLLMSpec, build_tiny_mllm

PICTURES = [
    torch.rand(1, 100, 150, 3, generator=torch.Generator().manual_seed(1)),
    Image.new("RGBA", (40, 300), (10, 200, 30, 128)),
    np.full((64, 64), 200, dtype=np.uint8),
]


def _grid_tokens(encoder: JointEncoder, picture, budget: int) -> int:
    """Tokens the processor's own image processor assigns to one picture at this budget."""
    resized = resize_to_area(to_image_batch(picture), budget, encoder.patch_factor, mode="bicubic")[0]
    out = encoder.processor.image_processor(
        images=[resized], do_rescale=False, return_tensors="pt",
        size={"shortest_edge": encoder.patch_factor**2, "longest_edge": budget * 4},
    )
    return int(out["image_grid_thw"][0].prod()) // encoder.merge_size**2


@pytest.mark.parametrize("count", [0, 1, 3])
def test_image_tokens_match_the_processor_grid(encoder, count):
    features = encoder.encode("put it small in the top left", PICTURES[:count])
    expected = [_grid_tokens(encoder, p, encoder.vision_pixel_budget) for p in PICTURES[:count]]
    assert features.image_token_counts() == [expected]
    assert features.num_images == count


@pytest.mark.parametrize("count", [0, 1, 3])
def test_roles_partition_the_sequence(encoder, count):
    features = encoder.encode("make it red", PICTURES[:count])
    roles = features.roles[0]
    allowed = {int(TokenRole.TEMPLATE), int(TokenRole.TEXT)} | {image_role(k) for k in range(count)}
    assert set(roles.tolist()) <= allowed
    template = (roles == TokenRole.TEMPLATE).nonzero().flatten()
    prefix_ids = encoder.processor.tokenizer(encoder.prompt_format.prefix, add_special_tokens=False)["input_ids"]
    assert template.tolist() == list(range(len(prefix_ids)))
    counted = sum(int((roles == r).sum()) for r in allowed)
    assert counted == roles.numel() == features.hidden_states.shape[2]


def test_image_roles_follow_picture_order(qwen25_encoder):
    features = qwen25_encoder.encode("swap them", PICTURES[:2])
    roles = features.roles[0].tolist()
    first_positions = [roles.index(image_role(k)) for k in range(2)]
    assert first_positions[0] < first_positions[1]


def test_picture_labels_can_be_left_out(qwen25_encoder):
    labelled = qwen25_encoder.encode("swap them", PICTURES[:2])
    bare = qwen25_encoder.encode("swap them", PICTURES[:2], picture_labels=False)
    def text_tokens(features):
        return int((features.roles == TokenRole.TEXT).sum())

    assert bare.image_token_counts() == labelled.image_token_counts()
    assert text_tokens(bare) < text_tokens(labelled)
    assert labelled.hidden_states.shape[2] - bare.hidden_states.shape[2] == text_tokens(labelled) - text_tokens(bare)


def test_layers_are_as_requested(encoder):
    all_layers = encoder.encode("a toy", PICTURES[:1])
    assert all_layers.hidden_states.shape[0] == encoder.num_layers + 1
    assert all_layers.layer_indices == tuple(range(encoder.num_layers + 1))
    chosen = encoder.encode("a toy", PICTURES[:1], layers=[0, 2, -1])
    assert chosen.layer_indices == (0, 2, encoder.num_layers)
    assert torch.equal(chosen.hidden_states, all_layers.hidden_states[[0, 2, encoder.num_layers]])
    with pytest.raises(ValueError, match="layers 0"):
        encoder.encode("a toy", layers=[encoder.num_layers + 1])


def test_last_layer_is_the_final_normed_output(qwen25_encoder):
    features = qwen25_encoder.encode("a toy on a beach", PICTURES[:1])
    processor = qwen25_encoder.processor
    picture = resize_to_area(to_image_batch(PICTURES[0]), qwen25_encoder.vision_pixel_budget, 28, mode="bicubic")
    text = qwen25_encoder.prompt_format.render("a toy on a beach", 1, "<|vision_start|><|image_pad|><|vision_end|>")
    inputs = processor(text=[text], images=[picture[0]], do_rescale=False, return_tensors="pt",
                       size={"shortest_edge": 28 * 28, "longest_edge": 4 * 384 * 384})
    with torch.no_grad():
        reference = qwen25_encoder.model.model(**inputs).last_hidden_state
    assert torch.allclose(features.layer(-1), reference, atol=1e-6)


def test_batches_broadcast_prompts_and_frames(qwen25_encoder):
    frames = torch.rand(2, 56, 56, 3, generator=torch.Generator().manual_seed(3))
    features = qwen25_encoder.encode(["make it red", "make it a much larger blue one"], [frames, PICTURES[2]])
    assert features.batch_size == 2
    padded = (features.roles == TokenRole.PAD).sum(dim=1)
    assert padded.min() == 0 and padded.max() > 0
    alone = qwen25_encoder.encode("make it red", [frames[:1], PICTURES[2]])
    length = alone.hidden_states.shape[2]
    keep = features.attention_mask[0].bool()
    assert torch.allclose(features.layer(-1)[0][keep], alone.layer(-1)[0][-length:], atol=1e-5)
    with pytest.raises(InvalidImageError, match="batch size"):
        qwen25_encoder.encode(["a", "b", "c"], [frames])


def test_template_drop_is_configurable(tiny_mllm_folder):
    folder = tiny_mllm_folder("qwen2_vl")
    keep_all = JointEncoder.from_folder(folder, prompt_format=PromptFormat(drop_template=False))
    drop_five = JointEncoder.from_folder(folder, prompt_format=PromptFormat(drop_template=5))
    assert int((keep_all.encode("hi").roles == TokenRole.TEMPLATE).sum()) == 0
    assert int((drop_five.encode("hi").roles == TokenRole.TEMPLATE).sum()) == 5


@pytest.mark.parametrize("prompt", ["", "   \n"])
def test_empty_prompt_without_pictures_is_refused(qwen25_encoder, prompt):
    with pytest.raises(PromptError, match="prompt is empty and no picture"):
        qwen25_encoder.encode(prompt)


def test_an_allowed_empty_prompt_is_the_unconditional_of_text_only_encoding(qwen25_encoder):
    features = qwen25_encoder.encode(" ", allow_empty=True)
    assert int((features.roles >= TokenRole.IMAGE).sum()) == 0 and features.hidden_states.shape[2] > 0


def test_empty_prompt_with_a_picture_is_the_unconditional(qwen25_encoder):
    """Classifier-free guidance's negative for an edit: the pictures with no instruction."""
    features = qwen25_encoder.encode(" ", PICTURES[:1])
    assert int((features.roles == image_role(0)).sum()) > 0
    assert int((features.roles == TokenRole.TEXT).sum()) < int(
        (qwen25_encoder.encode("put it small in the top left", PICTURES[:1]).roles == TokenRole.TEXT).sum())


def test_tiny_and_extreme_pictures_encode(qwen25_encoder):
    features = qwen25_encoder.encode("keep it", [torch.rand(1, 1, 1, 3), torch.rand(1, 50, 4000, 3)])
    assert all(count > 0 for count in features.image_token_counts()[0])


def test_folder_problems_are_named(tmp_path, tiny_mllm_folder):
    with pytest.raises(ModelFolderError, match="no MLLM folder"):
        JointEncoder.from_folder(tmp_path / "missing")
    empty = tmp_path / "no_config"
    empty.mkdir()
    with pytest.raises(ModelFolderError, match="config.json"):
        JointEncoder.from_folder(empty)
    pickled = tmp_path / "pickled"
    shutil.copytree(tiny_mllm_folder("qwen2_vl"), pickled)
    os.rename(pickled / "model.safetensors", pickled / "pytorch_model.bin")
    with pytest.raises(ModelFolderError, match="safetensors"):
        JointEncoder.from_folder(pickled)


def test_tiny_models_are_deterministic(tmp_path, tiny_mllm_folder):
    from safetensors.torch import load_file


    again = build_tiny_mllm(tmp_path / "again", TinyMLLMSpec(family="qwen2_5_vl"))
    first = load_file(os.path.join(tiny_mllm_folder("qwen2_5_vl"), "model.safetensors"))
    second = load_file(os.path.join(again, "model.safetensors"))
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)


def _same_block_means() -> list[torch.Tensor]:
    """Two 64 x 64 pictures that differ only inside 4 x 4 blocks: stripes across against stripes down."""
    rows, columns = torch.meshgrid(torch.arange(64), torch.arange(64), indexing="ij")
    pictures = []
    for lines in (rows, columns):
        picture = torch.full((1, 64, 64, 3), 0.3)
        picture[0, lines % 4 >= 2] = 0.8
        pictures.append(picture)
    return pictures


@pytest.mark.parametrize("resample, same", [(4, True), (3, False)])
def test_pictures_shrink_as_the_image_processor_resamples(tmp_path, resample, same):
    """A box-resampling processor's view averages each block exactly, so detail inside a block never reaches
    the MLLM (the miniature's low-pass view); the Qwen families' bicubic view lets some through."""
    folder = build_tiny_mllm(tmp_path / "mllm", TinyMLLMSpec(vision_patch_size=2, vision_resample=resample))
    encoder = JointEncoder.from_folder(folder, vision_pixel_budget=16 * 16)
    states = [encoder.encode("describe", [picture]).hidden_states for picture in _same_block_means()]
    assert encoder.resize_mode == ("area" if same else "bicubic")
    gap = (states[0] - states[1]).abs().max().item()
    assert gap < 1e-5 if same else gap > 1e-3, gap


@pytest.mark.parametrize("count", [1, 3])
def test_llava_pictures_are_one_run_of_image_tokens_each(tiny_mllm_root, count):
    """A processor with no grid (LLaVA: each picture a fixed 16 tokens) gives each picture its own role, in order."""
    encoder = JointEncoder.from_folder(build_tiny_mllm(tiny_mllm_root / "llava", TinyMLLMSpec(family="llava")))
    features = encoder.encode("put it small in the top left", PICTURES[:count])
    assert features.image_token_counts() == [[16] * count]
    roles = features.roles[0].tolist()
    firsts = [roles.index(image_role(k)) for k in range(count)]
    assert firsts == sorted(firsts) and (features.roles[0] == TokenRole.TEXT).sum() > 0
