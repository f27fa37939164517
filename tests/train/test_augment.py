"""The pose augmentor: generator bounds, the rebuild from bones, KCS, discriminators."""

from __future__ import annotations

import math

import pytest
import torch

from camerapose.core.skeleton import BONES, SYMMETRIC_BONES, Joint, bone_lengths, bone_vectors
from camerapose.train.augment import (
    BODY_PARTS,
    AugmentorConfig,
    DiscriminatorConfig,
    Generator,
    KCSDiscriminator2D,
    KCSDiscriminator3D,
    bones_to_pose,
    kcs,
)
from camerapose.train.data.synthetic import SyntheticSpec, generate


def test_generator_keeps_bone_lengths_in_bounds_symmetric_and_depth_positive():
    torch.manual_seed(0)
    poses = generate(SyntheticSpec(256, seed=3))
    cfg = AugmentorConfig(bone_scale=0.2, min_depth=1.5)
    gen = Generator(cfg)
    for p in gen.parameters():  # push the MLPs towards their bounds
        p.data.mul_(20)
    kp3d, t = torch.from_numpy(poses.kp3d), torch.from_numpy(poses.t)
    with torch.no_grad():
        out = gen(kp3d, t)
    ratio = bone_lengths(out["kp3d"]) / bone_lengths(kp3d)
    assert torch.all(ratio >= 0.8 - 1e-4) and torch.all(ratio <= 1.2 + 1e-4)
    assert ratio.std() > 0.01  # it did change lengths
    for left, right in SYMMETRIC_BONES:
        assert torch.allclose(ratio[:, left], ratio[:, right], atol=1e-4)
    assert torch.all(out["t"][:, 2] >= cfg.min_depth)
    assert torch.all(out["kp3d"][:, Joint.PELVIS] == 0)
    assert torch.all(out["kp3d"][..., 2] + out["t"][:, None, 2] > 0)  # every joint in front
    max_turn = math.radians(cfg.max_angle_deg) + 1e-4
    assert torch.all(out["d_angle"].norm(dim=-1) <= max_turn)


def test_bones_to_pose_rebuilds_a_root_relative_pose_from_its_bones():
    pose = torch.randn(4, 17, 3)
    pose = pose - pose[:, :1]
    vec = bone_vectors(pose)
    lengths = vec.norm(dim=-1)
    assert torch.allclose(bones_to_pose(vec / lengths[..., None], lengths), pose, atol=1e-5)


def test_body_parts_name_the_bones_ending_at_their_joints():
    assert [BONES[b][1] for b in BODY_PARTS["left_arm"]] == [Joint.LSHOULDER, Joint.LELBOW, Joint.LWRIST]
    assert {b for part in BODY_PARTS.values() for b in part} == set(range(len(BONES)))  # every bone judged


def test_kcs_of_a_known_skeleton():
    pose = torch.zeros(1, 17, 3)
    pose[0, Joint.RHIP] = torch.tensor([-1.0, 0, 0])
    pose[0, Joint.RKNEE] = torch.tensor([-1.0, -2.0, 0])
    pose[0, Joint.RFOOT] = torch.tensor([-1.0, -2.0, 3.0])
    psi = kcs(pose, BODY_PARTS["right_leg"])[0]
    # bones: (-1,0,0), (0,-2,0), (0,0,3): orthogonal, lengths^2 on the diagonal
    assert torch.allclose(psi, torch.diag(torch.tensor([1.0, 4.0, 9.0])))
    full = kcs(pose)[0]
    assert full.shape == (len(BONES), len(BONES))
    assert torch.allclose(full.diagonal()[:3], torch.tensor([1.0, 4.0, 9.0]))
    # a bent leg: thigh (0,-1,0) and shin (0,-1,1) -> dot product 1
    pose[0, Joint.RKNEE] = torch.tensor([-1.0, -1.0, 0])
    pose[0, Joint.RFOOT] = torch.tensor([-1.0, -2.0, 1.0])
    assert kcs(pose, BODY_PARTS["right_leg"])[0, 1, 2].item() == pytest.approx(1.0)


def test_discriminators_score_each_sample():
    d3, d2 = KCSDiscriminator3D(DiscriminatorConfig(16)), KCSDiscriminator2D(DiscriminatorConfig(16))
    x = torch.randn(5, 17, 3)
    assert d3(x).shape == (5,) and d2(x[..., :2]).shape == (5,)
    # the 2D critic ignores the 2D pose's size and position (distance is not a cue)
    assert torch.allclose(d2(x[..., :2]), d2(3 * x[..., :2] + 1), atol=1e-5)
