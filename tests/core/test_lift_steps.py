"""core/lift_steps.py: what every pose goes through after the model, fusion with the detector's 3D
included (the same steps serve the lift stage and the evaluation of the real set)."""

import dataclasses

import numpy as np
import pytest

from camerapose.core.camera import Camera, normalize_intrinsics, project
from camerapose.core.errors import InputError
from camerapose.core.fusion import DETECTOR_3D_WEIGHTS, fuse
from camerapose.core.lift_steps import LiftItem, LiftSteps, PostConfig

SIZE = (1088, 1920)
CAM = Camera(fx=1600.0, fy=1600.0, cx=544.0, cy=960.0)


def scene(seed: int):
    """A root-relative pose (17, 3), its root t, the 2D it gives and the model outputs that match."""
    rng = np.random.default_rng(seed)
    X = rng.normal(0, 0.25, (17, 3))
    X -= X[0]
    t = np.array([0.1, 0.2, 4.0])
    uv = project(CAM, X + t)
    f_n, c_n = normalize_intrinsics(CAM.focal[None], CAM.center[None], *SIZE)
    out = {"kp3d": X[None].astype(np.float32), "t": t[None].astype(np.float32),
           "focal": f_n.astype(np.float32), "center": c_n.astype(np.float32),
           "kp2d_refined": np.zeros((1, 17, 2), np.float32)}
    return X, t, uv, out


def item(uv, det3d=None, frame=0):
    return LiftItem("s", frame, frame / 30, SIZE, 1, uv, np.ones(17), det3d)


RAW = PostConfig(smooth=False, bone_window=0, camera_window=0)


def test_a_person_with_detector_3d_is_published_as_the_fused_pose_on_its_own_root():
    X, t, uv, out = scene(0)
    D = X + np.random.default_rng(9).normal(0, 0.05, X.shape)
    D -= D[0]
    pose = LiftSteps(RAW)([item(uv, D)], out)[0]
    rel = pose.kp3d - pose.t
    np.testing.assert_allclose(rel, fuse(X, D, DETECTOR_3D_WEIGHTS), atol=1e-5)
    np.testing.assert_array_equal(pose.kp3d[0], pose.t)  # the published pelvis is camera.t
    assert abs(pose.t[2] - t[2]) < 0.3  # t re-solved for the blend, near the truth


def test_fusion_off_or_no_detector_3d_publishes_the_lifters_pose():
    X, _, uv, out = scene(1)
    D = np.random.default_rng(2).normal(0, 0.2, X.shape)
    off = LiftSteps(dataclasses.replace(RAW, fusion="off"))([item(uv, D)], out)[0]
    none = LiftSteps(RAW)([item(uv, None)], out)[0]
    for pose in (off, none):
        np.testing.assert_allclose(pose.kp3d - pose.t, X, atol=1e-5)


def test_weights_passed_in_replace_the_shipped_ones():
    X, _, uv, out = scene(3)
    D = np.random.default_rng(4).normal(0, 0.2, X.shape)
    zero = LiftSteps(RAW, fusion_weights=np.zeros((17, 3)))([item(uv, D)], out)[0]
    np.testing.assert_allclose(zero.kp3d - zero.t, X, atol=1e-5)


def test_an_unknown_fusion_is_a_one_line_input_error():
    with pytest.raises(InputError, match=r"lift\.fusion must be one of detector-3d, off"):
        PostConfig(fusion="blend")


def test_the_steps_repeat_exactly_for_the_same_input():
    X, _, uv, out = scene(5)
    D = X * 1.1
    runs = []
    for _ in range(2):
        steps = LiftSteps(PostConfig())
        runs.append([steps([item(uv + f, D, f)], out)[0].kp3d for f in range(5)])
    np.testing.assert_array_equal(np.stack(runs[0]), np.stack(runs[1]))


def test_the_stream_camera_averages_its_first_persons_then_holds():
    from camerapose.core.lift_steps import StreamCamera

    cam = StreamCamera(window=4)
    first = [cam(np.array([1000.0 + 100 * i, 1000, 500, 500]), 1.0) for i in range(4)]
    np.testing.assert_allclose(first[-1][0], 1150.0)  # the mean of 1000..1300
    later = cam(np.array([3000.0, 3000, 10, 10]), 1.0)  # a wild guess once settled moves nothing
    np.testing.assert_array_equal(later, first[-1])
