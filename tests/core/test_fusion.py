"""core/fusion.py: the lifter's pose blended with the detector's own 3D, and the fit of the blend."""

import numpy as np
import pytest

from camerapose.core import metrics
from camerapose.core.fusion import DETECTOR_3D_WEIGHTS, SHARED_JOINTS, _weights, fit_weights, fuse, pose_size
from camerapose.core.skeleton import Joint


def poses(rng, n=1, scale=0.3):
    p = rng.normal(0, scale, (n, 17, 3))
    return p - p[:, :1]


def test_zero_weights_publish_the_lifter_and_full_weights_the_detector_at_the_lifters_size():
    rng = np.random.default_rng(0)
    L, D = poses(rng)[0], poses(rng)[0] * 0.8
    np.testing.assert_allclose(fuse(L, D, np.zeros((17, 3))), L, atol=1e-12)
    full = fuse(L, D, _weights(1.0, 1.0))  # the detector, scaled to the lifter's size
    shared = [j for j in SHARED_JOINTS if j != Joint.PELVIS]
    np.testing.assert_allclose(full[shared], (D * pose_size(L) / pose_size(D))[shared], atol=1e-12)


def test_the_fused_pose_keeps_the_pelvis_at_the_origin_and_never_blends_neck_and_head():
    rng = np.random.default_rng(1)
    L, D = poses(rng, 4), poses(rng, 4) + 5.0  # a detector pose off its root is re-rooted first
    F = fuse(L, D, DETECTOR_3D_WEIGHTS)
    np.testing.assert_allclose(F[:, Joint.PELVIS], 0.0, atol=1e-12)
    for j in (Joint.NECK, Joint.HEAD):  # nose / eyes for the detector, neck / head top for the lifter
        assert j not in SHARED_JOINTS and not DETECTOR_3D_WEIGHTS[j].any()
        np.testing.assert_allclose(F[:, j], L[:, j], atol=1e-12)


def test_image_plane_and_depth_are_weighted_apart():
    rng = np.random.default_rng(2)
    L = poses(rng)[0]
    D = L.copy()
    D[1:, 2] += 0.1  # the detector differs in depth only, at the lifter's size
    D *= pose_size(L) / pose_size(D)
    F = fuse(L, D, _weights(1.0, 0.0))
    np.testing.assert_allclose(F[..., 2], (L - L[0])[..., 2], atol=0.05)  # depth stays ours
    assert np.abs(F[1:, :2] - L[1:, :2]).max() > 0  # the plane follows the detector


def test_the_fit_finds_the_blend_that_made_the_truth():
    rng = np.random.default_rng(3)
    L, D = poses(rng, 200), poses(rng, 200)
    truth = fuse(L, D, _weights(0.4, 0.2))
    w = fit_weights(L, D, truth)
    np.testing.assert_allclose(w, _weights(0.4, 0.2), atol=1e-9)
    assert metrics.p_mpjpe(fuse(L, D, w), truth) < 1e-6


def test_a_detector_that_knows_nothing_gets_no_weight():
    rng = np.random.default_rng(4)
    truth = poses(rng, 200)
    L = truth + rng.normal(0, 0.02, truth.shape)
    D = poses(rng, 200)  # unrelated poses
    w = fit_weights(L, D, truth)
    assert w.max() <= 0.1


def test_weights_of_the_wrong_shape_are_refused():
    with pytest.raises(ValueError):
        fuse(np.zeros((17, 3)), np.zeros((17, 3)), np.zeros((16, 3)))
