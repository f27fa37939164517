"""PoseModel contract, generator bounds, KCS, checkpoints."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from camerapose.core.errors import ModelError
from camerapose.core.skeleton import BONES, SYMMETRIC_BONES, Joint, bone_lengths
from camerapose.train.checkpoint import load_pose_model, save_checkpoint
from camerapose.train.config import CONFIG_DIR, load_config
from camerapose.train.data.synthetic import SyntheticSpec, generate
from camerapose.train.models import (
    BODY_PARTS,
    AugmentorConfig,
    DiscriminatorConfig,
    Generator,
    KCSDiscriminator2D,
    KCSDiscriminator3D,
    PoseModel,
    count_parameters,
    kcs,
)


def test_pose_model_outputs_follow_the_contract():
    cfg = load_config(CONFIG_DIR / "synthetic.toml")
    model = PoseModel(cfg.model).eval()
    assert count_parameters(model) <= 3_000_000
    kp2d, conf = torch.randn(3, 17, 2) * 0.2, torch.rand(3, 17)
    refined, kp3d, focal, center, t = model(kp2d, conf)
    assert refined.shape == (3, 17, 2) and kp3d.shape == (3, 17, 3)
    assert focal.shape == center.shape == (3, 2) and t.shape == (3, 3)
    assert torch.all(kp3d[:, Joint.PELVIS] == 0)
    assert torch.all(focal > 0) and torch.all(t[:, 2] > 0)
    assert PoseModel.OUTPUT_NAMES == ("kp2d_refined", "kp3d", "focal", "center", "t")


def test_untrained_refinenet_is_the_identity():
    model = PoseModel(load_config(CONFIG_DIR / "synthetic.toml").model).eval()
    kp2d = torch.randn(4, 17, 2) * 0.3
    assert torch.equal(model.refine(kp2d, torch.rand(4, 17)), kp2d)


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


def test_checkpoint_rebuilds_model_alone_in_fp16(tmp_path):
    torch.manual_seed(0)
    cfg = load_config(CONFIG_DIR / "tiny.toml")
    model = PoseModel(cfg.model).eval()
    path = save_checkpoint(tmp_path / "w.pt", model, {"metrics": {"synthetic": {"mpjpe": 1.0}}}, half=True)
    loaded, info = load_pose_model(path)
    assert not loaded.training
    assert info["joint_format"] == "h36m17" and info["normalization"] == "screen_w"
    assert len(info["sha256"]) == 64 and info["model_config"]["lifter"]["width"] == cfg.model.lifter.width
    x, c = torch.randn(2, 17, 2) * 0.2, torch.rand(2, 17)
    for a, b in zip(model(x, c), loaded(x, c), strict=True):
        assert torch.allclose(a, b, atol=5e-2, rtol=1e-2)
    assert loaded.refine.mlp.out.weight.dtype == torch.float32


def test_bad_checkpoints_raise_model_error(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        load_pose_model(tmp_path / "missing.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError, match=r"junk\.pt"):
        load_pose_model(junk)
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {}}, foreign)
    with pytest.raises(ModelError, match="not a CameraPose checkpoint"):
        load_pose_model(foreign)


def test_shipped_default_weights_load_without_the_training_script():
    from camerapose.train import checkpoint

    path = checkpoint.__file__.replace("checkpoint.py", "weights/default.pt")
    model, info = load_pose_model(path)
    out = model(torch.zeros(1, 17, 2), torch.ones(1, 17))
    assert all(np.isfinite(o.detach().numpy()).all() for o in out)
    assert info["joint_format"] == "h36m17"


def test_pose_features_of_a_collapsed_pose_stay_finite_in_fp16():
    """Every keypoint on one spot (a degenerate detection): no division by zero in an fp16 engine."""
    from camerapose.train.models import pose_features

    collapsed = torch.full((2, 17, 2), 0.3, dtype=torch.float16)
    assert torch.isfinite(pose_features(collapsed)).all()
