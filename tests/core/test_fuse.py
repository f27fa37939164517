"""core/fuse.py: calibrated views' persons -> world skeletons with stable world ids."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from camerapose.core.camera import Camera
from camerapose.core.fuse import FuseConfig, Fuser, ViewPerson, fit_similarity
from camerapose.core.skeleton import NUM_JOINTS, Joint, bone_lengths

from ..conftest import ring_camera
from .test_triangulate import BODY, pose

RAW = FuseConfig(smooth=False, bone_window=0)


def rig() -> list[Camera]:
    """Four 1920x1080 cameras on a 5 m circle, 1.6-2.2 m high, looking at (0, 0, 1) (z-up world)."""
    return [ring_camera(a, h, 1100.0, (), (1920, 1080), radius=5.0)
            for a, h in zip([45, 135, 225, 315], [1.6, 2.2, 1.8, 2.0], strict=True)]


def seen(cams: list[Camera], X: np.ndarray, track: int, noise: float = 0.0, seed: int = 0
         ) -> list[ViewPerson]:
    """World pose X (17, 3) as each camera's stages would report it."""
    rng = np.random.default_rng(seed)
    out = []
    for cam in cams:
        Xc = X @ cam.R.T + cam.t
        uv = Xc[:, :2] / Xc[:, 2:] * [cam.fx, cam.fy] + [cam.cx, cam.cy]
        out.append(ViewPerson(track, uv + rng.normal(0, noise, uv.shape), np.ones(NUM_JOINTS), Xc))
    return out


def frame(cams: list[Camera], people: list[tuple[np.ndarray, int]], noise: float = 0.0,
          seed: int = 0) -> list[list[ViewPerson]]:
    per = [seen(cams, X, track, noise, seed + k) for k, (X, track) in enumerate(people)]
    return [[p[v] for p in per] for v in range(len(cams))]


def test_two_people_are_triangulated_in_the_world_frame_with_their_own_ids() -> None:
    cams = rig()
    a, b = pose(-0.8, 0.0), pose(0.9, 0.3, yaw=90)
    fuser = Fuser(cams, RAW)
    out = fuser.fuse(frame(cams, [(a, 1), (b, 2)], noise=1.0), 0.0)
    assert [p.id for p in out] == [1, 2]
    got = {tuple(sorted(set(p.tracks.values()))): p for p in out}
    for X, track in ((a, 1), (b, 2)):
        p = got[(track,)]
        assert np.abs(p.kp3d - X).max() < 0.03 and not p.single_view
        assert (p.views == 4).all() and np.median(p.reproj_px) < 2.0


def test_world_ids_follow_the_tracks_not_the_order_of_the_views() -> None:
    cams = rig()
    fuser = Fuser(cams, RAW)
    ids = []
    for i in range(10):  # the two walk past each other; the views list them in either order
        a, b = pose(-1.0 + 0.2 * i, 0.0), pose(1.0 - 0.2 * i, 0.4)
        people = [(a, 7), (b, 9)] if i % 2 else [(b, 9), (a, 7)]
        out = fuser.fuse(frame(cams, people), i / 30)
        ids.append({p.tracks[0]: p.id for p in out})
    assert all(d == ids[0] for d in ids) and sorted(ids[0].values()) == [1, 2]


def test_a_person_one_camera_sees_is_its_monocular_pose_placed_in_the_world() -> None:
    cams = rig()
    X = pose(0.5, -0.5)
    views = [[], [], [seen(cams, X, 3)[2]], []]
    out = Fuser(cams, RAW).fuse(views, 0.0)
    assert len(out) == 1 and out[0].single_view
    assert np.abs(out[0].kp3d - X).max() < 1e-4  # the lifted pose was exact: so is its placement
    assert Fuser(cams, replace(RAW, single_view=False)).fuse(views, 0.0) == []


def test_joints_no_two_views_agree_on_come_from_the_fitted_monocular_pose() -> None:
    cams = rig()
    X = pose()
    views = frame(cams, [(X, 1)])
    for v in range(4):  # the left wrist: unsure in every view
        views[v][0].conf = views[v][0].conf.copy()
        views[v][0].conf[Joint.LWRIST] = 0.05
    mono = views[0][0]
    mono.kp3d = mono.kp3d * 1.1  # a monocular pose is off in scale: the fit takes it out
    out = Fuser(cams, RAW).fuse(views, 0.0)[0]
    assert out.views[Joint.LWRIST] == 0 and out.views[Joint.LKNEE] == 4
    assert np.abs(out.kp3d - X).max() < 1e-3


def test_a_left_right_swap_in_one_view_is_repaired() -> None:
    from camerapose.core.skeleton import MIRROR

    cams = rig()
    X = pose(yaw=30)
    views = frame(cams, [(X, 1)])
    views[1][0].kp2d = views[1][0].kp2d[list(MIRROR)]
    out = Fuser(cams, RAW).fuse(views, 0.0)[0]
    assert np.abs(out.kp3d - X).max() < 0.01


def test_bone_lengths_hold_steady_over_noisy_frames() -> None:
    cams = rig()
    fuser = Fuser(cams, FuseConfig())
    lengths = []
    for i in range(60):
        out = fuser.fuse(frame(cams, [(pose(0.01 * i, 0.0), 1)], noise=3.0, seed=i), i / 30)
        lengths.append(bone_lengths(out[0].kp3d.astype(np.float64)))
    late = np.array(lengths[20:])
    assert (late.std(0) / late.mean(0)).max() < 0.01


def test_a_camera_without_extrinsics_is_refused() -> None:
    with pytest.raises(ValueError, match="extrinsics"):
        Fuser([Camera(1000.0, 1000.0, 500.0, 500.0)])


def test_fit_similarity_recovers_a_rotation_translation_and_scale() -> None:
    rng = np.random.default_rng(0)
    R = np.linalg.qr(rng.normal(size=(3, 3)))[0]
    R *= np.sign(np.linalg.det(R))
    dst = 1.3 * BODY @ R.T + [1, 2, 3]
    assert np.allclose(fit_similarity(BODY, dst, BODY), dst, atol=1e-9)
