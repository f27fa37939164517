"""The H36M-17 skeleton and every joint-format map, checked against hand-built poses."""

import numpy as np
import pytest

from camerapose.core.skeleton import (
    BLAZEPOSE33,
    BONES,
    COCO17,
    H36M32,
    JOINT_MAPS,
    MIRROR,
    MPI_INF_3DHP17,
    MPII16,
    NUM_JOINTS,
    PARENTS,
    SMPL24,
    SYMMETRIC_BONES,
    Joint,
    bone_lengths,
    to_h36m,
)


def test_joint_order_and_parents_match_the_design():
    assert [j.name for j in Joint][:4] == ["PELVIS", "RHIP", "RKNEE", "RFOOT"]
    assert Joint.THORAX == 8 and Joint.RWRIST == 16 and NUM_JOINTS == 17
    assert PARENTS == (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)
    assert len(BONES) == 16 and all(PARENTS[c] == p for p, c in BONES)


def test_mirror_swaps_left_and_right_and_is_an_involution():
    assert MIRROR[Joint.LWRIST] == Joint.RWRIST and MIRROR[Joint.RHIP] == Joint.LHIP
    assert MIRROR[Joint.PELVIS] == Joint.PELVIS and MIRROR[Joint.HEAD] == Joint.HEAD
    assert [MIRROR[m] for m in MIRROR] == list(range(NUM_JOINTS))


def test_symmetric_bones_pair_left_and_right_limbs():
    for left, right in SYMMETRIC_BONES:
        lc = BONES[left][1]
        rc = BONES[right][1]
        assert Joint(lc).name[0] == "L" and Joint(rc).name[0] == "R"
        assert Joint(lc).name[1:] == Joint(rc).name[1:]


def test_bone_lengths_of_a_hand_built_pose():
    pose = np.zeros((17, 3))
    pose[Joint.RHIP] = [-0.1, 0, 0]
    pose[Joint.RKNEE] = [-0.1, 0.4, 0]  # thigh 0.4 straight down
    pose[Joint.RFOOT] = [-0.1, 0.4, 0.3]  # shin 0.3 forward
    lengths = bone_lengths(pose)
    assert lengths.shape == (16,)
    assert lengths[BONES.index((Joint.PELVIS, Joint.RHIP))] == pytest.approx(0.1)
    assert lengths[BONES.index((Joint.RHIP, Joint.RKNEE))] == pytest.approx(0.4)
    assert lengths[BONES.index((Joint.RKNEE, Joint.RFOOT))] == pytest.approx(0.3)


def _labelled(n: int) -> np.ndarray:
    """Source joint i sits at (i, 10 i): every mapped value says where it came from."""
    return np.stack([np.arange(n, dtype=float), 10.0 * np.arange(n)], -1)


@pytest.mark.parametrize(
    ("joint_map", "expected_x"),
    [
        # H36M joint order: pel rhip rknee rfoot lhip lknee lfoot spine thorax neck head
        #                   lsho lelb lwri rsho relb rwri
        (COCO17, [11.5, 12, 14, 16, 11, 13, 15, 8.5, 5.5, 0, 1.5, 5, 7, 9, 6, 8, 10]),
        (MPII16, [2.5, 2, 1, 0, 3, 4, 5, 7.5, 12.5, 8, 9, 13, 14, 15, 12, 11, 10]),
        (BLAZEPOSE33, [23.5, 24, 26, 28, 23, 25, 27, 17.5, 11.5, 0, 3.5, 11, 13, 15, 12, 14, 16]),
        (MPI_INF_3DHP17, [14, 8, 9, 10, 11, 12, 13, 15, 1, 16, 0, 5, 6, 7, 2, 3, 4]),
        (H36M32, [0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27]),
        (SMPL24, [0, 2, 5, 8, 1, 4, 7, 6, 12, 13.5, 15, 16, 18, 20, 17, 19, 21]),
    ],
)
def test_each_map_places_every_h36m_joint_from_the_documented_sources(joint_map, expected_x):
    mapped, _ = joint_map(_labelled(joint_map.num_source_joints))
    assert mapped.shape == (17, 2)
    np.testing.assert_allclose(mapped[:, 0], expected_x)
    np.testing.assert_allclose(mapped[:, 1], 10 * np.asarray(expected_x))


def test_derived_joints_are_mid_hips_mid_shoulders_and_their_midpoint():
    coco = np.zeros((17, 3))
    coco[11], coco[12] = [1, 0, 0], [-1, 0, 0]  # hips
    coco[5], coco[6] = [2, -4, 0], [-2, -4, 2]  # shoulders
    h36m, _ = to_h36m(coco, "coco17")
    np.testing.assert_allclose(h36m[Joint.PELVIS], [0, 0, 0])
    np.testing.assert_allclose(h36m[Joint.THORAX], [0, -4, 1])
    np.testing.assert_allclose(h36m[Joint.SPINE], [0, -2, 0.5])


def test_a_derived_joints_confidence_is_the_minimum_of_its_sources():
    conf = np.linspace(0.1, 0.9, 33)
    conf[23], conf[24], conf[11], conf[12] = 0.9, 0.3, 0.8, 0.6
    _, c = BLAZEPOSE33(np.zeros((33, 2)), conf)
    assert c.shape == (17,)
    assert c[Joint.PELVIS] == pytest.approx(0.3)
    assert c[Joint.THORAX] == pytest.approx(0.6)
    assert c[Joint.SPINE] == pytest.approx(0.3)
    assert c[Joint.LWRIST] == pytest.approx(conf[15])


def test_maps_keep_batch_dimensions_and_dtype():
    pts = np.random.default_rng(0).normal(size=(4, 5, 33, 2)).astype(np.float32)
    conf = np.ones((4, 5, 33), np.float32)
    out, c = to_h36m(pts, "blazepose33", conf)
    assert out.shape == (4, 5, 17, 2) and out.dtype == np.float32 and c.shape == (4, 5, 17)


def test_averaging_matrix_rows_sum_to_one():
    for joint_map in JOINT_MAPS.values():
        np.testing.assert_allclose(joint_map.matrix.sum(1), 1.0)
        assert (joint_map.padded_sources[:, 0] >= 0).all()


def test_wrong_joint_count_names_the_expected_shape():
    with pytest.raises(ValueError, match=r"coco17 points: expected shape \(\.\.\., 17, D\)"):
        to_h36m(np.zeros((33, 2)), "coco17")


def test_confidence_of_the_wrong_shape_is_rejected():
    with pytest.raises(ValueError, match="confidence"):
        to_h36m(np.zeros((17, 2)), "coco17", np.ones(16))


def test_unknown_format_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"known: .*coco17"):
        to_h36m(np.zeros((17, 2)), "openpose25")


def test_with_bone_lengths_keeps_directions_and_sets_lengths():
    from camerapose.core.skeleton import BONES, bone_lengths, bone_vectors, with_bone_lengths

    rng = np.random.default_rng(0)
    pose = rng.normal(size=(4, 17, 3))
    target = rng.uniform(0.1, 0.5, size=(4, len(BONES)))
    out = with_bone_lengths(pose, target)
    assert np.allclose(bone_lengths(out), target)
    a, b = bone_vectors(out), bone_vectors(pose)
    cos = (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)
    assert np.allclose(cos, 1.0)
    assert np.array_equal(out[:, 0], pose[:, 0])
    same = with_bone_lengths(pose, bone_lengths(pose))
    assert np.allclose(same, pose)
