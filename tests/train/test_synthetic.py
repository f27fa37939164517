"""The synthetic source: geometry consistent with core.camera, realistic ranges, honest noise."""

from __future__ import annotations

import numpy as np

from camerapose.core.camera import Camera, denormalize_screen, project
from camerapose.core.skeleton import Joint, bone_lengths
from camerapose.train.data.synthetic import SyntheticSpec, generate, withhold_3d


def test_same_seed_same_samples_other_seed_other_samples():
    a, b = generate(SyntheticSpec(300, seed=5)), generate(SyntheticSpec(300, seed=5))
    c = generate(SyntheticSpec(300, seed=6))
    assert np.array_equal(a.kp2d, b.kp2d) and np.array_equal(a.kp3d, b.kp3d)
    assert not np.allclose(a.kp3d, c.kp3d)


def test_2d_labels_are_core_camera_projections_in_pixels():
    p = generate(SyntheticSpec(50, seed=1))
    for i in range(0, 50, 7):
        w, h = p.image_size[i].astype(np.float64)
        fx, fy = p.focal[i].astype(np.float64) * max(w, h) / 2  # normalised by the long side
        cx, cy = denormalize_screen(p.center[i].astype(np.float64), w, h)
        cam = Camera(fx, fy, cx, cy, width=int(w), height=int(h))
        uv = project(cam, p.kp3d[i].astype(np.float64) + p.t[i])
        assert np.allclose(uv, denormalize_screen(p.kp2d_gt[i].astype(np.float64), w, h), atol=1e-2)
        assert np.all(uv > -0.06 * w) and np.all(uv[:, 0] < 1.06 * w) and np.all(uv[:, 1] < 1.06 * h)


def test_poses_cameras_and_people_are_in_realistic_ranges():
    p = generate(SyntheticSpec(2000, seed=2))
    lengths = bone_lengths(p.kp3d.astype(np.float64))
    thigh = lengths[:, Joint.RKNEE - 1]
    assert 0.33 < thigh.min() and thigh.max() < 0.56
    assert np.allclose(lengths[:, Joint.RKNEE - 1], lengths[:, Joint.LKNEE - 1])  # symmetric body
    assert np.all(p.kp3d[:, Joint.PELVIS] == 0)
    assert 2.0 <= p.t[:, 2].min() and p.t[:, 2].max() <= 10.0
    # the focal length is normalised by the long side: its field of view is 2 atan(1 / f_n)
    fov = np.degrees(2 * np.arctan(1 / p.focal[:, 0]))
    assert 24.9 < fov.min() and fov.max() < 115.1
    tele, wide = (fov < 55).mean(), (fov > 80).mean()  # LENSES: a quarter each, drawn
    assert 0.15 < tele < 0.3 and 0.2 < wide < 0.3  # a tele lens loses more people out of frame
    portrait = p.image_size[:, 1] > p.image_size[:, 0]
    assert 0.2 < portrait.mean() < 0.6
    # people stand mostly upright: the head is above the pelvis in the camera's y (down) for most
    up = (p.kp3d[:, Joint.HEAD, 1] < 0).mean()
    assert up > 0.9


def test_noise_confidence_tracks_the_error():
    p = generate(SyntheticSpec(3000, seed=3))
    err = np.linalg.norm(p.kp2d - p.kp2d_gt, axis=-1)
    assert np.all((p.conf > 0) & (p.conf <= 1))
    assert np.corrcoef(err.ravel(), p.conf.ravel())[0, 1] < -0.3
    big = err > np.quantile(err, 0.99)
    assert p.conf[big].mean() < 0.5 < p.conf[~big].mean()
    clean = generate(SyntheticSpec(100, seed=3, noise=False))
    body = [j for j in range(17) if j != Joint.HEAD]  # the detector's head is the eyes, not the top
    assert np.array_equal(clean.kp2d[:, body], clean.kp2d_gt[:, body]) and np.all(clean.conf == 1)
    head_gap = np.linalg.norm(clean.kp2d[:, Joint.HEAD] - clean.kp2d_gt[:, Joint.HEAD], axis=-1)
    assert np.all(head_gap > 0)


def test_derived_joints_follow_the_runtime_definition():
    p = generate(SyntheticSpec(200, seed=4))
    hips = p.kp2d[:, [Joint.LHIP, Joint.RHIP]].mean(1)
    assert np.allclose(p.kp2d[:, Joint.PELVIS], hips, atol=1e-6)


def test_withheld_set_is_2d_only():
    p = withhold_3d(generate(SyntheticSpec(20, seed=0)))
    assert not p.has_3d.any() and not p.has_camera.any() and np.all(p.kp3d == 0)
