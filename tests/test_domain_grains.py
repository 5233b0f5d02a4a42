"""The three-grain domain: every picture is read exactly, fine bits vanish from a low-pass view while mid bits
stay, held-out subjects carry unseen fine codes, and the copy and leak figures see what they are meant to."""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from squeeze_core.miniature.domain.cases import draw_cases, render_case
from squeeze_core.miniature.domain.scenes import POSITIONS, Pose, render
from squeeze_core.miniature.domain.scoring import score_case
from squeeze_core.miniature.domain.subjects import FINE_BITS, MID_BITS, SHAPES, shape_mask, split_subjects

TRAIN, HELD_OUT = split_subjects()


def _low_pass(image: np.ndarray) -> np.ndarray:
    """What the miniature's MLLM is given: the picture area-averaged to a quarter of its side."""
    pixels = torch.from_numpy(image).permute(2, 0, 1)[None].float()
    return F.avg_pool2d(pixels, 4)[0].numpy()


def test_exact_targets_score_perfectly_on_every_kind():
    cases = draw_cases(400, HELD_OUT, seed=1)
    assert {case.instruction.kind for case in cases} == {"place", "open", "keep", "pair"}
    for case in cases:
        scores = score_case(render_case(case)[1], case)
        assert all(scores[name] == 1.0 for name in ("instruction", "shape", "palette", "mid", "fine")), (case, scores)
        assert scores.get("copy", 0.0) == 0.0 and scores.get("leak", 0.0) == 0.0, (case, scores)


def test_a_pose_copier_is_caught():
    cases = [case for case in draw_cases(300, HELD_OUT, seed=2) if case.instruction.kind == "place"
             and case.instruction.quarter_turns != case.reference_poses[0].quarter_turns]
    copied = [score_case(render(list(case.subjects), [Pose(case.target_poses[0].position,
                                                            case.reference_poses[0].quarter_turns)],
                                case.instruction.background)[0], case) for case in cases]
    assert all(scores["copy"] == 1.0 and scores["orientation"] == 0.0 for scores in copied)
    assert all(scores["fine"] == 1.0 for scores in copied), "identity is read in the pose the picture shows"


def test_open_pose_distance_is_the_turn_from_the_reference():
    case = next(case for case in draw_cases(200, HELD_OUT, seed=3) if case.instruction.kind == "open")
    reference_turns = case.reference_poses[0].quarter_turns
    for turns, degrees in ((reference_turns, 0.0), (reference_turns + 1, 90.0), (reference_turns + 2, 180.0)):
        image = render(list(case.subjects), [Pose(case.target_poses[0].position, turns % 4)],
                       case.instruction.background)[0]
        assert score_case(image, case)["open_distance"] == degrees


def test_swapped_pair_leaks_fully():
    case = next(case for case in draw_cases(200, HELD_OUT, seed=4) if case.instruction.kind == "pair"
                and case.subjects[0].shape != case.subjects[1].shape)
    swapped = render(list(case.subjects[::-1]), list(case.target_poses), case.instruction.background)[0]
    assert score_case(swapped, case)["leak"] == 1.0


def test_another_subject_keeps_fine_bits_at_chance():
    rng = random.Random(5)
    fine = []
    for case in draw_cases(300, HELD_OUT, seed=5):
        if case.instruction.kind != "pair":
            stranger = rng.choice(TRAIN)
            fine.append(score_case(render([stranger], list(case.target_poses), case.instruction.background)[0],
                                   case)["fine"])
    assert 0.45 < float(np.mean(fine)) < 0.55


@pytest.mark.parametrize("turns", range(4))
def test_low_pass_view_loses_fine_bits_and_keeps_mid_bits(turns):
    subject = HELD_OUT[0]
    for position in POSITIONS:
        pose = Pose(position, turns)
        image = render([subject], [pose], "sand")[0]
        for bit in range(FINE_BITS):
            flipped = render([replace(subject, fine=subject.fine ^ (1 << bit))], [pose], "sand")[0]
            assert not np.array_equal(flipped, image)
            assert np.array_equal(_low_pass(flipped), _low_pass(image))
        for bit in range(MID_BITS):
            flipped = render([replace(subject, mid=subject.mid ^ (1 << bit))], [pose], "sand")[0]
            assert np.abs(_low_pass(flipped) - _low_pass(image)).max() > 10


def test_shapes_show_their_orientation():
    silhouettes = [np.rot90(shape_mask(shape), -turns) for shape in SHAPES for turns in range(4)]
    assert len({silhouette.tobytes() for silhouette in silhouettes}) == 4 * len(SHAPES)


def test_held_out_subjects_carry_unseen_fine_codes():
    assert len(TRAIN) >= 1000 and len(HELD_OUT) >= 500
    assert not {subject.fine for subject in TRAIN} & {subject.fine for subject in HELD_OUT}
    assert {subject.shape for subject in HELD_OUT} == set(SHAPES)


def test_the_reference_command_draws_the_subject_it_is_given(tmp_path):
    from PIL import Image

    from squeeze_core.cli import main
    from squeeze_core.miniature.domain.cases import Case
    from squeeze_core.miniature.domain.scenes import Instruction
    from squeeze_core.miniature.domain.subjects import Subject

    out = tmp_path / "subject.png"
    main(["reference", "--shape", "tee", "--primary", "red", "--secondary", "cyan", "--mid", "9", "--fine", "1234",
          "--position", "top west", "--turn", "turned left", "--ground", "sky", "--out", str(out)])
    pose = Pose("top west", 3)
    drawn = Case((Subject("tee", "red", "cyan", 9, 1234),), (pose,), ("sky",),
                 Instruction("place", "sky", "top west", 3), (pose,))
    scores = score_case(np.asarray(Image.open(out).convert("RGB")), drawn)
    assert all(scores[name] == 1.0 for name in ("instruction", "shape", "palette", "mid", "fine")), scores
    other = replace(drawn, subjects=(Subject("tee", "red", "cyan", 9, 1234 ^ 0xFF),))
    assert score_case(np.asarray(Image.open(out).convert("RGB")), other)["fine"] == 0.5
