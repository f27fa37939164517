"""The renderer every 3D source goes through, and real clips as test/training sets (fake clips here;
the real files are tested in test_mocap.py)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from camerapose.core.camera import denormalize_screen
from camerapose.core.skeleton import Joint, bone_lengths
from camerapose.train.data import mocap_sets, render
from camerapose.train.data.synthetic import sample_poses


def _upright(n: int, seed: int = 0) -> np.ndarray:
    return sample_poses(np.random.default_rng(seed), n)


def test_eval_cameras_are_the_three_devices_and_keep_every_pose_they_can():
    body = _upright(600)
    poses, keep = render.render(np.random.default_rng(1), body, "t", noise=False)
    assert keep.mean() > 0.98  # a new camera is drawn until the person is in view
    sizes = {tuple(s) for s in poses.image_size.astype(int).tolist()}
    assert sizes == {(1080, 1920), (1280, 720), (1920, 1080)}
    assert 2.0 <= poses.t[:, 2].min() and poses.t[:, 2].max() <= 8.0
    # every joint inside the frame (5 % margin)
    w, h = poses.image_size[:, 0, None], poses.image_size[:, 1, None]
    uv = denormalize_screen(poses.kp2d_gt.astype(np.float64), w[..., None], h[..., None])
    assert np.all(uv[..., 0] > -0.051 * w) and np.all(uv[..., 0] < 1.051 * w)


def test_eval_cameras_are_level_or_tilted():
    # an upright torso's direction in the camera frame shows the camera's pitch
    body = np.repeat(_upright(1), 2000, axis=0)
    body[:, Joint.THORAX] = [0.0, 0.5, 0.0]
    poses, _ = render.render(np.random.default_rng(2), body, "t", noise=False)
    up = poses.kp3d[:, Joint.THORAX] - poses.kp3d[:, Joint.PELVIS]
    tilt = np.abs(np.degrees(np.arctan2(up[:, 2], -up[:, 1])))
    assert (tilt < 7).mean() > 0.4 and (tilt > 9).mean() > 0.4  # both level and tilted views
    assert tilt.max() < 31


def test_mirror_swaps_sides_and_keeps_bone_lengths():
    body = _upright(5)
    m = mocap_sets.mirror(body)
    assert np.allclose(m[:, Joint.LHIP, 0], -body[:, Joint.RHIP, 0])
    assert np.allclose(bone_lengths(m[:, :17]), bone_lengths(body[:, :17]))
    assert np.allclose(mocap_sets.mirror(m), body)


def test_mocap_test_sets_have_a_row_per_group_and_are_deterministic():
    clips = [SimpleNamespace(group="walk/run", fps=30.0, joints=_upright(40, 1) + [0, 0.9, 0]),
             SimpleNamespace(group="climb", fps=30.0, joints=_upright(30, 2))]
    a = mocap_sets.test_sets(clips, seed=3, cameras_per_frame=2)
    b = mocap_sets.test_sets(clips, seed=3, cameras_per_frame=2)
    assert set(a) == {"mocap", "mocap/walk/run", "mocap/climb"}
    assert len(a["mocap"]) == len(a["mocap/walk/run"]) + len(a["mocap/climb"]) > 130
    assert np.array_equal(a["mocap"].kp2d, b["mocap"].kp2d)
    assert np.all(a["mocap"].kp3d[:, Joint.PELVIS] == 0)


def test_mocap_training_sampler_mirrors_and_rescales_real_frames():
    frame = _upright(1, 4) + [0, 0.9, 0]
    frame[:, Joint.LWRIST, 1] += 0.8  # the left hand up: its mirror image raises the right hand
    clip = SimpleNamespace(group="climb", fps=30.0, joints=frame)
    poses = mocap_sets.train_sampler([clip])(np.random.default_rng(0), 400)
    left_up = poses[:, Joint.LWRIST, 1] > poses[:, Joint.RWRIST, 1]
    assert 0.35 < left_up.mean() < 0.65
    assert np.all(poses[:, Joint.LHIP, 0] > 0)  # a mirror image is still a body: left is left
    height = np.ptp(poses[:, :17, 1], axis=1)
    assert np.ptp(height) > 0.1 * height.mean()
