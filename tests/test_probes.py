"""The probes behind the three-grain domain's claims discriminate: a lossless codec keeps every bit and a 4 x 4
blur keeps the mid bits only; an MLLM that sees pictures through the miniature's box-filtered view carries the
mid bits and not the fine ones (held-out subjects, chance 0.5); the description probe reads each subject's row,
column, shape and palette apart."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from squeeze_core.joint_encoder import JointEncoder
from squeeze_core.miniature.case_data import draw_split
from squeeze_core.miniature.domain.scenes import COLUMNS, Pose, describe
from squeeze_core.miniature.probes import describe_cases, description_scores, mllm_probe, vae_probe
from squeeze_core.miniature.spec import VISION_RESOLUTION, MiniatureSpec
from squeeze_core.tiny_models import build_tiny_mllm


COLUMN_AFTER = dict(zip(COLUMNS, list(COLUMNS)[1:] + list(COLUMNS)[:1]))


class PixelCodec:
    """A codec whose latent is the picture itself, optionally averaged over ``blur`` x ``blur`` cells."""

    def __init__(self, blur: int = 1):
        self.blur = blur

    def encode(self, pixels: torch.Tensor):
        frame = pixels[:, :, 0]
        if self.blur > 1:
            frame = F.interpolate(F.avg_pool2d(frame, self.blur), scale_factor=self.blur, mode="nearest")
        return SimpleNamespace(latent_dist=SimpleNamespace(mean=frame))

    def decode(self, latents: torch.Tensor):
        return SimpleNamespace(sample=latents[:, :, None])


@pytest.mark.parametrize("blur, fine", [(1, (1.0, 1.0)), (4, (0.0, 0.6))])
def test_vae_probe_tells_a_lossless_codec_from_a_blurring_one(blur, fine):
    mid, found = vae_probe(PixelCodec(blur), draw_split(40, "held_out", seed=7))
    assert mid.accuracy == 1.0
    assert fine[0] <= found.accuracy <= fine[1], found


def test_mllm_probe_sees_mid_bits_but_not_fine_ones_through_the_box_view(tmp_path):
    folder = build_tiny_mllm(tmp_path / "mllm", MiniatureSpec().mllm)
    encoder = JointEncoder.from_folder(folder, vision_pixel_budget=VISION_RESOLUTION**2)
    mid, fine = mllm_probe(encoder, encoder.num_layers, train=600, held_out=300)
    assert mid.low > 0.8, mid
    assert fine.low < 0.5 < fine.high, fine


def test_description_probe_reads_each_subject_and_axis_apart():
    """True descriptions score 1 everywhere; descriptions that name every subject one column east (wrapping) keep
    row, shape and palette and lose the column; a missing subject counts as wrong."""
    cases = draw_split(40, "held_out", seed=3)
    truth = [describe(list(case.subjects), list(case.target_poses), case.instruction.background) for case in cases]
    assert [result.accuracy for result in description_scores(truth, cases)] == [1.0, 1.0, 1.0, 1.0]
    moved = []
    for case in cases:
        poses = []
        for pose in case.target_poses:
            row, column = pose.position.split(" ")
            poses.append(Pose(f"{row} {COLUMN_AFTER[column]}", pose.quarter_turns))
        moved.append(describe(list(case.subjects), poses, case.instruction.background))
    row, column, shape, palette = description_scores(moved, cases)
    assert (row.accuracy, column.accuracy, shape.accuracy, palette.accuracy) == (1.0, 0.0, 1.0, 1.0)
    assert row.unit == "subjects" and row.bits == sum(len(case.subjects) for case in cases)
    nothing = description_scores([""] * len(cases), cases)
    assert [result.accuracy for result in nothing] == [0.0] * 4


def test_the_mllm_describes_pictures_through_the_prompt_it_was_taught_with(tmp_path):
    """An untaught MLLM's descriptions: one string per case, generated from the target picture."""
    folder = build_tiny_mllm(tmp_path / "mllm", MiniatureSpec().mllm)
    encoder = JointEncoder.from_folder(folder, vision_pixel_budget=VISION_RESOLUTION**2)
    cases = draw_split(3, "held_out", seed=3)
    answers = describe_cases(encoder, cases, chunk=2)
    assert len(answers) == 3 and all(isinstance(answer, str) for answer in answers)
    assert encoder.processor.tokenizer.padding_side == "right"
