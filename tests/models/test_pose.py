"""PoseModel: its output contract, the identity start of RefineNet, fp16-safe pose features, and the
shipped weights' outputs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from camerapose.core.skeleton import Joint
from camerapose.models.pose import PoseModel, count_parameters, pose_features, pose_size
from camerapose.train.config import CONFIG_DIR, load_config


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


def test_pose_size_is_the_rms_distance_from_the_root_with_a_floor():
    rel = torch.zeros(2, 17, 2)
    rel[0, 1:] = torch.tensor([3.0, 4.0])  # 16 of 17 joints 5 away: RMS = 5 sqrt(16/17)
    assert pose_size(rel, 1e-4)[0].item() == pytest.approx(5 * (16 / 17) ** 0.5)
    assert pose_size(rel, 1e-4)[1].item() == pytest.approx(0.01)  # a collapsed pose gets the floor


def test_pose_features_ignore_position_and_scale_in_the_shape_part():
    kp2d = torch.randn(3, 17, 2) * 0.2
    a, b = pose_features(kp2d), pose_features(2 * kp2d + 0.5)
    assert a.shape == (3, 37)
    assert torch.allclose(a[:, :34], b[:, :34], atol=1e-5)  # the normalised shape
    assert torch.allclose(b[:, -1], a[:, -1] + torch.log(torch.tensor(2.0)), atol=1e-5)  # log size


def test_pose_features_of_a_collapsed_pose_stay_finite_in_fp16():
    """Every keypoint on one spot (a degenerate detection): no division by zero in an fp16 engine."""
    collapsed = torch.full((2, 17, 2), 0.3, dtype=torch.float16)
    assert torch.isfinite(pose_features(collapsed)).all()


def test_shipped_weights_give_finite_outputs():
    from camerapose.models.checkpoint import load_pose_model

    weights = Path(__file__).resolve().parents[2] / "train" / "weights" / "default.pt"
    model, info = load_pose_model(weights)
    out = model(torch.zeros(1, 17, 2), torch.ones(1, 17))
    assert all(torch.isfinite(o).all() for o in out)
    assert info["joint_format"] == "h36m17"
