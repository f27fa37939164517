"""Metrics against hand-computed values, and the invariances that define them (hypothesis)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from camerapose.core.errors import InputError
from camerapose.core.metrics import (
    AUC_THRESHOLDS,
    auc,
    bone_length_cv,
    jitter,
    joint_errors,
    mpjpe,
    n_mpjpe,
    p_mpjpe,
    pck,
    per_joint,
    procrustes_align,
    summarize,
)
from camerapose.core.rotations import quaternion_to_matrix


def _pose(seed: int = 0, n: int = 17) -> np.ndarray:
    return np.random.default_rng(seed).normal(scale=300.0, size=(n, 3))  # mm


def _rotation(seed: int) -> np.ndarray:
    q = np.random.default_rng(seed).normal(size=4)
    return quaternion_to_matrix(q / np.linalg.norm(q))


def test_mpjpe_of_a_hand_built_error():
    gt = np.zeros((17, 3))
    gt[:, 0] = np.arange(17)
    pred = gt.copy()
    pred[3] += [3.0, 4.0, 0.0]  # one joint off by 5
    assert mpjpe(pred, gt) == pytest.approx(5 / 17)


def test_mpjpe_ignores_a_global_translation_but_not_a_rotation():
    gt = _pose()
    assert mpjpe(gt + [100.0, -50.0, 2000.0], gt) == pytest.approx(0, abs=1e-9)
    assert mpjpe(gt @ _rotation(1).T, gt) > 10


def test_a_known_similarity_transform_gives_zero_p_mpjpe_and_the_right_mpjpe():
    gt = _pose(2)
    R = quaternion_to_matrix(np.array([np.cos(0.25), 0.0, np.sin(0.25), 0.0]))  # 28.6 deg about y
    pred = 1.3 * gt @ R.T + [10.0, 20.0, 30.0]
    assert p_mpjpe(pred, gt) == pytest.approx(0, abs=1e-9)
    rel_pred, rel_gt = pred - pred[0], gt - gt[0]
    expected = np.linalg.norm(rel_pred - rel_gt, axis=-1).mean()
    assert mpjpe(pred, gt) == pytest.approx(expected)
    assert mpjpe(pred, gt) > 50


def test_n_mpjpe_removes_scale_only():
    gt = _pose(4)
    assert n_mpjpe(0.7 * gt + 5.0, gt) == pytest.approx(0, abs=1e-9)
    assert n_mpjpe(gt @ _rotation(5).T, gt) > 10


def test_procrustes_does_not_use_a_reflection():
    gt = _pose(6)
    mirrored = gt * [-1.0, 1.0, 1.0]
    aligned = procrustes_align(mirrored, gt)
    # A rotation cannot undo a mirror image: the error stays large, and the aligned pose is
    # still a mirror image (negative signed volume of three bones).
    assert p_mpjpe(mirrored, gt) > 50
    def vol(p):
        return np.linalg.det(np.stack([p[1] - p[0], p[2] - p[0], p[3] - p[0]]))
    assert np.sign(vol(aligned)) == -np.sign(vol(gt))


def test_pck_is_strict_and_auc_averages_the_thresholds():
    errors = np.array([[0.0, 50.0, 150.0, 151.0]])
    assert pck(errors) == pytest.approx(0.5)  # 150 is not < 150
    assert len(AUC_THRESHOLDS) == 31 and AUC_THRESHOLDS[-1] == 150
    # joint at 0: below no threshold of 0 but all others (30/31); at 50: below 20 of 31
    # (55..150); at 150 and 151: below none.
    assert auc(errors) == pytest.approx((30 / 31 + 20 / 31 + 0 + 0) / 4)


def test_per_joint_breakdown_averages_over_samples():
    errors = np.array([[1.0, 2.0, 3.0], [3.0, 4.0, 5.0]])
    np.testing.assert_allclose(per_joint(errors), [2, 3, 4])


def test_summarize_reports_every_headline_metric():
    gt = np.stack([_pose(i) for i in range(4)])
    pred = gt + np.random.default_rng(9).normal(scale=20, size=gt.shape)
    s = summarize(pred, gt)
    assert set(s) == {"mpjpe", "p_mpjpe", "n_mpjpe", "pck", "auc"}
    assert 0 < s["p_mpjpe"] < s["mpjpe"] < 60 and s["pck"] == 1.0


def test_shape_mismatch_names_the_expected_shape():
    with pytest.raises(ValueError, match=r"gt: expected shape \(2, 17, 3\)"):
        mpjpe(np.zeros((2, 17, 3)), np.zeros((2, 16, 3)))
    with pytest.raises(ValueError, match=r"pred: expected shape \(\.\.\., J, 3\)"):
        mpjpe(np.zeros((17, 2)), np.zeros((17, 2)))
    with pytest.raises(ValueError, match="align"):
        joint_errors(np.zeros((17, 3)), np.zeros((17, 3)), align="bogus")


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 10_000), scale=st.floats(0.2, 5.0),
       shift=st.tuples(*[st.floats(-5000, 5000)] * 3))
def test_p_mpjpe_is_invariant_to_a_similarity_transform_of_the_prediction(seed, scale, shift):
    rng = np.random.default_rng(seed)
    gt = rng.normal(scale=300, size=(3, 17, 3))
    pred = gt + rng.normal(scale=30, size=gt.shape)
    moved = scale * pred @ _rotation(seed).T + np.asarray(shift)
    assert p_mpjpe(moved, gt) == pytest.approx(p_mpjpe(pred, gt), rel=1e-6, abs=1e-6)


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 10_000), noise=st.floats(1.0, 200.0))
def test_procrustes_squared_error_never_exceeds_root_aligned_squared_error(seed, noise):
    rng = np.random.default_rng(seed)
    gt = rng.normal(scale=300, size=(2, 17, 3))
    pred = gt + rng.normal(scale=noise, size=gt.shape)
    sq_p = (joint_errors(pred, gt, "procrustes") ** 2).sum(-1)
    sq_r = (joint_errors(pred, gt, "root") ** 2).sum(-1)
    assert np.all(sq_p <= sq_r * (1 + 1e-9) + 1e-9)
    # With noise on every joint (the usual case) the mean errors follow the same order.
    if noise > 10:
        assert p_mpjpe(pred, gt) <= mpjpe(pred, gt)


def test_mean_error_p_mpjpe_can_exceed_mpjpe_when_one_joint_is_far_off():
    """Why the property above is stated on squared errors: Procrustes spreads one gross error
    over all joints, which lowers the squared sum but raises the mean of Euclidean norms."""
    gt = _pose(11)
    pred = gt.copy()
    pred[16] += [400.0, 0.0, 0.0]
    assert p_mpjpe(pred, gt) > mpjpe(pred, gt)


# -- temporal metrics of a track ----------------------------------------------------------------


def test_bone_length_cv_of_one_stretching_bone():
    """Right shank (bone 2, knee -> ankle) 1 m, then 3 m: mean 2, population std 1 -> CV 0.5;
    every other bone keeps its length -> 0."""
    pose = _pose(3) / 1000.0
    pose[3] = pose[2] + [0.0, 1.0, 0.0]
    track = np.stack([pose, pose.copy()])
    track[1, 3] = pose[2] + [0.0, 3.0, 0.0]
    cv = bone_length_cv(track)
    assert cv.shape == (16,)
    assert cv[2] == pytest.approx(0.5)
    assert np.allclose(np.delete(cv, 2), 0.0)
    assert cv.mean() == pytest.approx(0.5 / 16)


def test_bone_length_cv_ignores_rigid_motion_and_zero_length_bones():
    pose = _pose(4)
    pose[10] = pose[9]  # a zero-length bone (9 -> 10) must not divide by zero
    track = np.stack([pose @ _rotation(s).T + s * 100.0 for s in range(5)])
    cv = bone_length_cv(track)
    assert np.allclose(cv, 0.0, atol=1e-9) and np.all(np.isfinite(cv))


def test_jitter_of_hand_computed_tracks():
    t = np.array([0.0, 1.0, 2.0])
    track = np.zeros((3, 1, 3))
    track[2, 0, 0] = 1.0  # 0, 0, 1 at unit spacing: a = (1 - 0) - (0 - 0) = 1
    assert jitter(track, t) == pytest.approx(1.0)
    uneven = np.zeros((3, 1, 3))
    uneven[1:, 0, 0] = 1.0  # 0, 1, 1 at t = 0, 1, 3: v1 = 1, v2 = 0, a = 2 (0 - 1) / 3
    assert jitter(uneven, np.array([0.0, 1.0, 3.0])) == pytest.approx(2.0 / 3.0)


def test_jitter_is_zero_at_constant_velocity_and_exact_on_a_parabola():
    rng = np.random.default_rng(7)
    t = np.cumsum(rng.uniform(0.02, 0.05, 20))  # uneven frame times
    start, vel = rng.normal(size=(17, 3)), rng.normal(size=(17, 3))
    linear = start + vel * t[:, None, None]
    assert jitter(linear, t) == pytest.approx(0.0, abs=1e-9)
    acc = np.array([0.0, 9.81, 0.0])  # falling: |a| = 9.81 m/s^2 at every joint
    falling = linear + 0.5 * acc * t[:, None, None] ** 2
    assert jitter(falling, t) == pytest.approx(9.81, rel=1e-9)


def test_jitter_skips_frames_next_to_a_gap():
    t = np.array([0.0, 0.1, 0.2, 1.2, 1.3, 1.4])
    track = np.zeros((6, 1, 3))
    track[3:, 0, 0] = 5.0  # the jump happens across the 1 s gap
    assert jitter(track, t) > 0
    assert jitter(track, t, max_dt=0.15) == pytest.approx(0.0)
    assert np.isnan(jitter(track[2:5], t[2:5], max_dt=0.15))  # no clean triplet left


def test_temporal_metrics_refuse_too_short_tracks_and_unordered_times():
    with pytest.raises(InputError, match="at least 2 frames"):
        bone_length_cv(np.zeros((1, 17, 3)))
    with pytest.raises(InputError, match="at least 3 frames"):
        jitter(np.zeros((2, 17, 3)), np.array([0.0, 1.0]))
    with pytest.raises(InputError, match="strictly increasing"):
        jitter(np.zeros((3, 17, 3)), np.array([0.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match=r"t: expected shape \(T,\) with T=3"):
        jitter(np.zeros((3, 17, 3)), np.zeros(4))
