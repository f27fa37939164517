"""Each loss against a value computed by hand, and where 2D-only gradients go."""

from __future__ import annotations

import math

import pytest
import torch

from camerapose.core.errors import InputError
from camerapose.models.pose import CameraConfig, LifterConfig, PoseModel, PoseModelConfig, RefineConfig
from camerapose.train.config import LossConfig
from camerapose.train.losses import (
    augmentor_regularizer,
    camera_loss,
    combined_loss,
    confidence_weights,
    hardness_feedback_loss,
    lsgan_d_loss,
    lsgan_g_loss,
    pose3d_loss,
    refine_loss,
    reprojection_loss,
)


def test_confidence_weights_are_each_joint_over_the_sample_sum():
    conf = torch.tensor([[1.0, 3.0] + [0.0] * 15])
    w = confidence_weights(conf)
    assert w[0, 0].item() == pytest.approx(0.25)
    assert w[0, 1].item() == pytest.approx(0.75)
    assert w.sum().item() == pytest.approx(1.0)


def test_refine_loss_matches_hand_computation():
    target = torch.zeros(2, 17, 2)
    refined = torch.zeros(2, 17, 2)
    refined[0, 0] = torch.tensor([3.0, 4.0])  # squared error 25 on joint 0 of sample 0
    refined[1, 5] = torch.tensor([1.0, 0.0])  # squared error 1 on joint 5 of sample 1
    conf = torch.ones(2, 17)
    conf[0, 0] = 3.0  # sample 0: weight of joint 0 = 3 / (3 + 16) = 3/19
    # sample 0: 25 * 3/19; sample 1: 1 * 1/17; mean over the 2 samples
    expected = (25 * 3 / 19 + 1 / 17) / 2
    assert refine_loss(refined, target, conf).item() == pytest.approx(expected, rel=1e-6)


def test_reprojection_loss_matches_hand_computation():
    kp3d = torch.zeros(1, 17, 3)
    kp3d[0, 1] = torch.tensor([1.0, 0.0, 0.0])
    focal, center = torch.tensor([[2.0, 2.0]]), torch.tensor([[0.1, -0.1]])
    t = torch.tensor([[0.0, 0.0, 4.0]])
    # joint 1 projects to (2 * 1/4 + 0.1, -0.1) = (0.6, -0.1); every other joint to (0.1, -0.1)
    target = torch.zeros(1, 17, 2)
    expected = ((0.6**2 + 0.1**2) + 16 * (0.1**2 + 0.1**2)) / 17
    assert reprojection_loss(kp3d, focal, center, t, target).item() == pytest.approx(expected, rel=1e-6)


def test_camera_loss_sums_squared_intrinsic_and_translation_errors():
    f, c, t = torch.tensor([[1.0, 2.0]]), torch.tensor([[0.0, 0.5]]), torch.tensor([[0.0, 1.0, 5.0]])
    fg, cg, tg = torch.tensor([[1.5, 2.0]]), torch.tensor([[0.0, 0.0]]), torch.tensor([[0.0, 0.0, 3.0]])
    assert camera_loss(f, c, t, fg, cg, tg).item() == pytest.approx(0.25 + 0.25 + 1.0 + 4.0)


def test_pose3d_loss_is_mean_squared_joint_distance():
    pred, gt = torch.zeros(1, 17, 3), torch.zeros(1, 17, 3)
    pred[0, 3] = torch.tensor([0.1, 0.2, 0.2])  # squared distance 0.09
    assert pose3d_loss(pred, gt).item() == pytest.approx(0.09 / 17, rel=1e-6)


def test_lsgan_losses_match_hand_computation():
    real, fake = torch.tensor([1.0, 0.0]), torch.tensor([0.5, -1.0])
    # D: 1/2 mean((real-1)^2) + 1/2 mean(fake^2) = 1/2 * 0.5 + 1/2 * 0.625
    assert lsgan_d_loss(real, fake).item() == pytest.approx(0.5 * 0.5 + 0.5 * 0.625)
    # G: 1/2 mean((fake-1)^2) = 1/2 * (0.25 + 4) / 2
    assert lsgan_g_loss(fake).item() == pytest.approx(0.5 * 4.25 / 2)


def test_augmentor_regularizer_is_zero_for_no_change():
    aug = {"d_angle": torch.zeros(2, 16, 3), "ratio": torch.ones(2, 16), "rotation": torch.zeros(2, 3)}
    assert augmentor_regularizer(aug).item() == 0.0
    aug["ratio"] = torch.full((2, 16), float(torch.e))
    assert augmentor_regularizer(aug).item() == pytest.approx(1.0)


def test_hardness_feedback_matches_hand_computation():
    err_aug, err_orig = torch.tensor([0.3, 0.1]), torch.tensor([0.1, 0.1])
    # beta 2: gaps 0.3 - 0.2 = 0.1 (too hard) and 0.1 - 0.2 = -0.1 (too easy)
    expected = (abs(1 - math.exp(0.1)) + abs(1 - math.exp(-0.1))) / 2
    assert hardness_feedback_loss(err_aug, err_orig, 2.0).item() == pytest.approx(expected, rel=1e-6)


def test_hardness_feedback_is_zero_exactly_at_beta_times_the_original_error():
    err_orig = torch.tensor([0.05, 0.08, 0.12])
    assert hardness_feedback_loss(2.5 * err_orig, err_orig, 2.5).item() == pytest.approx(0.0, abs=1e-7)
    assert hardness_feedback_loss(2.0 * err_orig, err_orig, 2.5).item() > 1e-3


def test_hardness_feedback_pulls_easy_poses_up_and_pushes_overhard_ones_down_harder():
    err_orig = torch.tensor([0.1, 0.1])
    err_aug = torch.tensor([0.0, 0.4], requires_grad=True)  # target 0.2: 0.2 too easy, 0.2 too hard
    loss = hardness_feedback_loss(err_aug, err_orig, 2.0)
    loss.backward()
    g_easy, g_hard = err_aug.grad.tolist()
    assert g_easy < 0 < g_hard  # gradient descent raises the easy error and lowers the hard one
    assert g_hard == pytest.approx(math.exp(0.2) / 2) and g_easy == pytest.approx(-math.exp(-0.2) / 2)
    # the same distance from the target costs more above it than below it
    assert abs(1 - math.exp(0.2)) > abs(1 - math.exp(-0.2))


def test_hardness_feedback_on_easy_poses_saturates_and_a_huge_error_stays_finite():
    err_orig = torch.tensor([1.0])
    easy = hardness_feedback_loss(torch.tensor([0.0]), err_orig, 50.0).item()
    assert easy == pytest.approx(1 - math.exp(-50.0)) and easy <= 1.0
    assert math.isfinite(hardness_feedback_loss(torch.tensor([1e4]), err_orig, 2.0).item())


def test_hardness_feedback_rejects_bad_shapes_and_beta():
    with pytest.raises(InputError, match=r"two \(B,\) errors"):
        hardness_feedback_loss(torch.zeros(3), torch.zeros(4), 2.0)
    with pytest.raises(InputError, match=r"two \(B,\) errors"):
        hardness_feedback_loss(torch.zeros(3, 17), torch.zeros(3, 17), 2.0)
    with pytest.raises(InputError, match="beta must be > 0"):
        hardness_feedback_loss(torch.zeros(3), torch.zeros(3), 0.0)


def _small_model() -> PoseModel:
    torch.manual_seed(0)
    cfg = PoseModelConfig(RefineConfig(32, 1), LifterConfig(width=32, blocks=1), CameraConfig(32, 1))
    return PoseModel(cfg)


def _batch(n: int, has_3d: bool) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return {
        "kp2d": torch.randn(n, 17, 2, generator=g) * 0.2, "conf": torch.rand(n, 17, generator=g),
        "kp2d_gt": torch.randn(n, 17, 2, generator=g) * 0.2, "kp3d": torch.randn(n, 17, 3, generator=g) * 0.3,
        "focal": torch.full((n, 2), 1.5), "center": torch.zeros(n, 2), "t": torch.tensor([[0, 0, 5.0]] * n),
        "has_3d": torch.full((n,), has_3d), "has_camera": torch.full((n,), has_3d),
    }


def test_2d_only_batch_trains_camera_branch_and_lifter_but_not_the_3d_loss():
    model = _small_model()
    batch = _batch(8, has_3d=False)
    out = model(batch["kp2d"], batch["conf"])
    total, terms = combined_loss(out, batch, LossConfig())
    assert terms["3d"] == 0.0 and terms["cam"] == 0.0 and terms["2d"] == 0.0
    assert terms["2d_only"] > 0
    total.backward()
    for name in ("camera", "lifter", "refine"):
        grads = [p.grad for p in getattr(model, name).parameters() if p.grad is not None]
        assert grads and any(g.abs().sum() > 0 for g in grads), name
    # Eq. 17 exactly: lambda_ref * Lref + lambda_2d_only * L2D
    lam = LossConfig()
    expected = lam.lambda_ref * terms["ref"] + lam.lambda_2d_only * terms["2d_only"]
    assert total.item() == pytest.approx(expected, rel=1e-5)


def test_3d_batch_uses_eq16_weights():
    model = _small_model()
    batch = _batch(8, has_3d=True)
    lam = LossConfig(lambda_ref=2.0, lambda_cam=0.1, lambda_2d=0.5, lambda_3d=3.0)
    total, terms = combined_loss(model(batch["kp2d"], batch["conf"]), batch, lam)
    assert terms["2d_only"] == 0.0
    expected = 2.0 * terms["ref"] + 0.1 * terms["cam"] + 0.5 * terms["2d"] + 3.0 * terms["3d"]
    assert total.item() == pytest.approx(expected, rel=1e-5)
