"""core.autocalib: camera extrinsics from people, on synthetic cameras round synthetic walkers, and
the Pose2Sim .toml writer (core.calibration.write_calibration_toml) read back by read_calibration."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from camerapose.core import autocalib as ac
from camerapose.core.calibration import read_calibration, write_calibration_toml
from camerapose.core.camera import Camera, project, world_to_camera
from camerapose.core.errors import InputError
from camerapose.core.rotations import axis_angle, elemental, rotation_vector
from camerapose.core.skeleton import MEAN_BONE_LENGTHS, MIRROR, Joint, bone_lengths, with_bone_lengths

from ..conftest import STANDING_BODY, ring_camera

ANGLES = (10, 100, 190, 280)  # four cameras round the people, as in a capture room
BODY_BONES = bone_lengths(STANDING_BODY)  # the synthetic people's own bones: the metric scale's reference


def walkers(n_persons: int, n_frames: int, rng: np.random.Generator) -> np.ndarray:
    """(F, P, 17, 3) world metres: STANDING_BODY people near the origin, walking slowly, turning,
    swinging their arms (the joints of one person are not a rigid set over the clip)."""
    out = np.zeros((n_frames, n_persons, 17, 3))
    for p in range(n_persons):
        start, vel, yaw0 = rng.uniform(-1, 1, 2), rng.uniform(-0.03, 0.03, 2), rng.uniform(0, 2 * np.pi)
        for f in range(n_frames):
            body = STANDING_BODY.copy()
            swing = 0.6 * np.sin(0.3 * f + p)
            for shoulder, elbow, wrist, sign in ((11, 12, 13, 1), (14, 15, 16, -1)):
                arm = body[[elbow, wrist]] - body[shoulder]
                body[[elbow, wrist]] = arm @ elemental("x", sign * swing).T + body[shoulder]
            pos = start + vel * f
            out[f, p] = body @ elemental("z", yaw0 + 0.05 * f).T + [pos[0], pos[1], 0.0]
    return out


def scene(rng: np.random.Generator, noise: float = 0.0, n_frames: int = 20, n_persons: int = 2,
          f: float = 1400.0) -> tuple[list[Camera], np.ndarray, list[dict]]:
    """Four ring cameras, the walkers, and per camera their tracks as a detector gives them: pixels,
    confidence 0.9, track ids that differ from camera to camera (and from the persons' order)."""
    cams = [ring_camera(a, 1.6 + 0.3 * (i % 2), f) for i, a in enumerate(ANGLES)]
    X = walkers(n_persons, n_frames, rng)
    tracks = []
    for v, cam in enumerate(cams):
        ids = rng.permutation(n_persons) + 1 + 10 * v
        views = {}
        for p in range(n_persons):
            uv = project(cam, world_to_camera(cam, X[:, p]))
            if noise:
                uv = uv + rng.normal(scale=noise, size=uv.shape)
            views[int(ids[p])] = (np.arange(n_frames), uv, np.full((n_frames, 17), 0.9))
        tracks.append(views)
    return cams, X, tracks


def bare(cams: list[Camera]) -> list[Camera]:
    return [replace(c, R=None, t=None) for c in cams]


@pytest.fixture(scope="module")
def clean() -> tuple[list[Camera], list[dict], ac.Calibration]:
    cams, _, tracks = scene(np.random.default_rng(0))
    return cams, tracks, ac.calibrate(bare(cams), tracks, bone_reference=BODY_BONES)


@pytest.fixture(scope="module")
def noisy() -> tuple[list[Camera], list[dict], ac.Calibration]:
    """2 px noise on every joint; 3 % of the joints anywhere in the image (with a confident score);
    legs labelled the wrong way round in one camera on a few frames; a few unconfident joints."""
    rng = np.random.default_rng(1)
    cams, _, tracks = scene(rng, noise=2.0, n_frames=20)
    for v, views in enumerate(tracks):
        for _, uv, conf in views.values():
            wild = rng.random(conf.shape) < 0.03
            uv[wild] = rng.uniform([0, 0], [1088, 1920], size=(int(wild.sum()), 2))
            low = rng.random(conf.shape) < 0.05
            conf[low] = 0.1
            uv[low] += rng.normal(scale=80, size=(int(low.sum()), 2))
            if v == 2:
                legs = [Joint.RHIP, Joint.RKNEE, Joint.RFOOT, Joint.LHIP, Joint.LKNEE, Joint.LFOOT]
                uv[5:9, legs] = uv[5:9][:, np.asarray(MIRROR)[legs]]
    return cams, tracks, ac.calibrate(bare(cams), tracks, bone_reference=BODY_BONES)


# -- the whole calibration -----------------------------------------------------------------------------
def test_without_noise_the_cameras_come_back_exactly(clean) -> None:
    cams, tracks, cal = clean
    cmp = ac.compare(cal, cams)
    assert cmp["scale"] == pytest.approx(1.0, abs=1e-6)  # metric: the people's bones are the reference
    np.testing.assert_allclose(cmp["rotation_deg"], 0, atol=1e-4)
    np.testing.assert_allclose(cmp["position_m"], 0, atol=1e-5)
    assert max(np.median(e) for e in cal.errors_px) < 1e-4
    # z-up world, floor at z = 0 (the ankles are 8 cm above it): the camera heights are the true ones
    heights = [ac.camera_centre(c.R, c.t)[2] for c in cal.cameras]
    np.testing.assert_allclose(heights, [ac.camera_centre(c.R, c.t)[2] for c in cams], atol=1e-4)
    # every person kept one track per camera, whatever the ids
    assert len(cal.groups) == 2
    assert all(sorted(g) == [0, 1, 2, 3] for g in cal.groups)
    for v in range(4):
        assert sorted(tid for g in cal.groups for tid in g[v]) == sorted(tracks[v])
    assert [c.fx for c in cal.cameras] == [c.fx for c in cams]  # the given focal lengths stay


def test_noise_outliers_and_swapped_legs_cost_little(noisy) -> None:
    cams, _, cal = noisy
    cmp = ac.compare(cal, cams)
    assert cmp["rotation_deg"].max() < 0.3
    assert cmp["position_pct"].max() < 1.0
    assert cmp["scale"] == pytest.approx(1.0, abs=0.02)
    assert max(np.median(e) for e in cal.errors_px) < 3.0  # ~ the 2 px noise: outliers rejected


@pytest.mark.slow
def test_a_wrong_focal_guess_is_refined(rng) -> None:
    cams, _, tracks = scene(rng, noise=0.5)
    guess = [ac.guess_intrinsics(1088, 1920, focal=1150.0) for _ in cams]  # 18 % short of 1400
    cal = ac.calibrate(guess, tracks, refine_focal=True, share_focal=True, bone_reference=BODY_BONES)
    assert [c.fx for c in cal.cameras] == pytest.approx([1400.0] * 4, rel=0.01)
    cmp = ac.compare(cal, cams)
    assert cmp["rotation_deg"].max() < 0.3
    assert cmp["position_pct"].max() < 1.5


@pytest.mark.slow
def test_a_track_cut_in_one_view_joins_its_person(rng) -> None:
    cams, _, tracks = scene(rng)
    tid = min(tracks[3])
    frames, uv, conf = tracks[3].pop(tid)
    tracks[3][90] = (frames[:8], uv[:8], conf[:8])  # the tracker lost the person and found them again
    tracks[3][91] = (frames[8:], uv[8:], conf[8:])
    cal = ac.calibrate(bare(cams), tracks, bone_reference=BODY_BONES)
    assert any(sorted(g.get(3, [])) == [90, 91] for g in cal.groups)
    assert ac.compare(cal, cams)["position_m"].max() < 1e-4


def test_worlds(clean) -> None:
    cams, tracks, _ = clean
    truth = {v: (c.R, c.t) for v, c in enumerate(cams)}
    groups = _true_groups(cams, tracks)
    first = ac.adjust(bare(cams), tracks, truth, groups, [0, 1], world="first-camera",
                      bone_reference=BODY_BONES)
    np.testing.assert_allclose(first.cameras[0].R, np.eye(3), atol=1e-9)
    np.testing.assert_allclose(first.cameras[0].t, 0, atol=1e-9)
    np.testing.assert_allclose(first.cameras[1].R, cams[1].R @ cams[0].R.T, atol=1e-6)
    yup = ac.adjust(bare(cams), tracks, truth, groups, [0, 1], world="y-up", bone_reference=BODY_BONES)
    up = yup.poses[..., Joint.THORAX, :] - yup.poses[..., Joint.PELVIS, :]
    up = up[np.isfinite(up).all(-1)]
    assert np.degrees(np.arccos((up / np.linalg.norm(up, axis=-1, keepdims=True)).mean(0)[1])) < 1.0
    heights = [ac.camera_centre(c.R, c.t)[1] for c in yup.cameras]
    np.testing.assert_allclose(heights, [1.6, 1.9, 1.6, 1.9], atol=1e-4)
    forward = yup.cameras[0].R[2]  # the first camera looks along -z, made horizontal
    assert forward[2] < -0.9 and abs(forward[0]) < 1e-6


def _true_groups(cams: list[Camera], tracks: list[dict]) -> list[dict[int, list[int]]]:
    """Which track is which person, by projecting: each track's first 2D pose against person 0's."""
    X0 = walkers(2, 20, np.random.default_rng(0))[0]
    groups: list[dict[int, list[int]]] = [{}, {}]
    for v, cam in enumerate(cams):
        for tid, (_, uv, _) in tracks[v].items():
            d = [np.abs(project(cam, world_to_camera(cam, X0[p])) - uv[0]).max() for p in range(2)]
            groups[int(np.argmin(d))][v] = [tid]
    return groups


def test_too_little_to_calibrate_from_is_one_line(rng) -> None:
    cams, _, tracks = scene(rng)
    apart = [{tid: (f + 100 * v, uv, c) for tid, (f, uv, c) in views.items()}
             for v, views in enumerate(tracks)]
    with pytest.raises(InputError, match="no person seen by two cameras over enough frames"):
        ac.calibrate(bare(cams), apart)
    alone = [dict(views) for views in tracks]
    alone[2] = {tid: (f + 100, uv, c) for tid, (f, uv, c) in tracks[2].items()}  # never at the same time
    with pytest.raises(InputError, match=r"cannot place cam2: no person seen there"):
        ac.calibrate(bare(cams), alone)
    with pytest.raises(InputError, match="at least 2 cameras"):
        ac.calibrate(bare(cams[:1]), tracks[:1])
    with pytest.raises(InputError, match="no person was found"):
        ac.calibrate(bare(cams), [{} for _ in cams])


# -- the pieces ----------------------------------------------------------------------------------------
def test_guess_intrinsics_spans_the_field_of_view() -> None:
    cam = ac.guess_intrinsics(1920, 1080, fov_deg=90.0)
    assert (cam.fx, cam.fy, cam.cx, cam.cy) == pytest.approx((960, 960, 960, 540))
    assert (cam.width, cam.height) == (1920, 1080)
    portrait = ac.guess_intrinsics(1088, 1920)
    assert 2 * math.degrees(math.atan(960 / portrait.fx)) == pytest.approx(ac.DEFAULT_FOV_DEG)
    assert ac.guess_intrinsics(640, 480, focal=500.0).fx == 500.0


def test_rotation_vectors_match_opencv(rng) -> None:
    rv = np.concatenate([rng.normal(size=(20, 3)), [[0, 0, 0], [1e-10, 0, 0], [math.pi - 1e-9, 0, 0]]])
    R = ac.rotation_matrix(rv)
    for r, m in zip(rv, R, strict=True):
        np.testing.assert_allclose(m, cv2.Rodrigues(r)[0], atol=1e-12)
        np.testing.assert_allclose(m, rotation_vector(r), atol=1e-12)
    np.testing.assert_allclose(ac.rotation_matrix(ac.rotation_vector_of(R)), R, atol=1e-9)
    turn = axis_angle(np.array([0, 0, 1.0]), math.radians(30))
    assert ac.rotation_angle_deg(np.eye(3), turn) == pytest.approx(30)


def _points_and_pair(rng: np.random.Generator) -> tuple[np.ndarray, Camera, Camera]:
    X = rng.uniform([-1, -1, 0], [1, 1, 1.9], size=(200, 3))
    return X, ring_camera(0, 1.5, 1400.0), ring_camera(70, 2.0, 1400.0)


def _normalised(cam: Camera, X: np.ndarray) -> np.ndarray:
    return ac.normalize(cam, project(cam, world_to_camera(cam, X)))


def test_essential_pose_is_the_relative_pose(rng) -> None:
    X, a, b = _points_and_pair(rng)
    R, t, inliers = ac.essential_pose(_normalised(a, X), _normalised(b, X), 1e-4)
    R_true = b.R @ a.R.T
    t_true = b.t - R_true @ a.t
    np.testing.assert_allclose(R, R_true, atol=1e-6)
    np.testing.assert_allclose(t, t_true / np.linalg.norm(t_true), atol=1e-6)
    assert inliers.all()
    assert ac.essential_pose(np.zeros((5, 2)), np.zeros((5, 2)), 1e-3) is None  # too few points


def test_pnp_pose_is_the_camera_pose(rng) -> None:
    X, _, b = _points_and_pair(rng)
    x = _normalised(b, X)
    x[:20] += 0.2  # outliers
    R, t, inliers = ac.pnp_pose(X, x, 1e-3)
    np.testing.assert_allclose(R, b.R, atol=1e-8)
    np.testing.assert_allclose(t, b.t, atol=1e-7)
    assert not inliers[:20].any() and inliers[20:].all()


def test_match_views_pairs_the_right_tracks(rng) -> None:
    cams, _, tracks = scene(rng, noise=1.0, n_persons=3)
    xy = [{tid: (f, ac.normalize(cams[v], uv), c) for tid, (f, uv, c) in tracks[v].items()} for v in (0, 1)]
    pair = ac.match_views(xy[0], xy[1], 8.0 / 1400)
    truth = _pairs_by_person(cams, tracks, 0, 1)
    assert sorted(pair.pairs) == truth
    R_true = cams[1].R @ cams[0].R.T
    assert ac.rotation_angle_deg(pair.R, R_true) < 1.0
    assert 60 < pair.parallax_deg < 120


def _pairs_by_person(cams: list[Camera], tracks: list[dict], a: int, b: int) -> list[tuple[int, int]]:
    """The true (track in a, track in b) pairs: the tracks whose 3D (triangulated with the true
    cameras) is one body, i.e. reprojects within a pixel."""
    from camerapose.core.calibration import projection_matrix
    from camerapose.core.triangulate import reprojection_errors, triangulate_dlt

    P = np.stack([projection_matrix(cams[a]), projection_matrix(cams[b])])
    out = []
    for ta, (_, ua, _) in tracks[a].items():
        for tb, (_, ub, _) in tracks[b].items():
            uv = np.stack([ua, ub], 1)
            err = reprojection_errors(P, triangulate_dlt(P, uv, np.ones(uv.shape[:-1])), uv)
            if np.nanmedian(err) < 5:
                out.append((ta, tb))
    return sorted(out)


def test_bundle_adjust_converges_and_keeps_the_gauge(rng) -> None:
    cams = [ring_camera(a, 1.7, 1400.0) for a in ANGLES]
    X = rng.uniform([-1, -1, 0], [1, 1, 1.9], size=(150, 3))
    view = np.repeat(np.arange(4), len(X))
    point = np.tile(np.arange(len(X)), 4)
    uv = np.concatenate([project(c, world_to_camera(c, X)) for c in cams])
    K = np.stack([c.K * [[1.1, 1, 1], [1, 1.1, 1], [1, 1, 1]] for c in cams])  # focal 10 % long: refined
    R0 = np.stack([c.R for c in cams])
    t0 = np.stack([c.t for c in cams])
    R = np.stack([axis_angle(np.array([0.0, 0.6, 0.8]), math.radians(2)) @ r for r in R0])
    R[0] = R0[0]
    t = t0 + rng.normal(scale=0.05, size=t0.shape)  # camera 1's sets the scale (the gauge)
    t[0] = t0[0]
    ba = ac.bundle_adjust(R, t, K, X + rng.normal(scale=0.03, size=X.shape), view, point, uv,
                          fixed_view=0, scale_view=1, refine_focal=True, share_focal=True)
    assert ba.success and np.median(ba.errors_px) < 1e-3
    np.testing.assert_allclose(ba.focal_scale, 1 / 1.1, rtol=1e-5)
    np.testing.assert_allclose(ba.R, R0, atol=1e-6)  # the gauge leaves no rotation free
    np.testing.assert_allclose(ba.R[0], R0[0], atol=1e-12)  # fixed
    np.testing.assert_allclose(ba.t[0], t0[0], atol=1e-12)
    # the rest is the truth scaled about the fixed camera, by what its kept baseline component says
    C0 = ac.camera_centre(R0[0], t0[0])
    s = np.linalg.norm(ba.X - C0, axis=-1).sum() / np.linalg.norm(X - C0, axis=-1).sum()
    np.testing.assert_allclose(ba.X, C0 + s * (X - C0), atol=1e-6)
    t1 = t[1] - (R[1] @ R[0].T) @ t[0]  # camera 1 seen from camera 0, as given
    t1_true = t0[1] - (R0[1] @ R0[0].T) @ t0[0]
    k = np.argmax(np.abs(t1))
    assert s == pytest.approx(t1[k] / t1_true[k], rel=1e-6)


def test_bone_scale_and_height() -> None:
    body = with_bone_lengths(STANDING_BODY[None], np.asarray(MEAN_BONE_LENGTHS)[None] * 0.5)
    poses = np.repeat(body, 5, 0)
    poses[0, Joint.LKNEE] = np.nan  # a joint missing here and there changes nothing
    assert ac.bone_scale(poses) == pytest.approx(2.0)
    assert ac.bone_scale(poses, height=1.89) == pytest.approx(2.0 * 1.89 / ac.MEAN_HEIGHT_M)
    assert ac.bone_scale(poses, reference=np.full(16, 0.3)) == pytest.approx(
        np.median(0.3 / (np.asarray(MEAN_BONE_LENGTHS)[list(ac.LONG_BONES)] * 0.5)))
    assert math.isnan(ac.bone_scale(np.full((3, 17, 3), np.nan)))
    lengths = ac.detector_bone_lengths([STANDING_BODY, None, STANDING_BODY * 1.2])
    np.testing.assert_allclose(lengths, BODY_BONES * 1.1)
    assert ac.detector_bone_lengths([None]) is None


def test_up_is_what_most_trunks_agree_on(rng) -> None:
    up = np.array([0.3, -0.2, 0.93])
    up /= np.linalg.norm(up)
    tilt = axis_angle(np.cross(up, [1.0, 0, 0]) / np.linalg.norm(np.cross(up, [1.0, 0, 0])), math.radians(25))
    poses = np.zeros((100, 17, 3))
    poses[:, Joint.THORAX] = up * 0.5 + rng.normal(scale=0.01, size=(100, 3))
    poses[70:, Joint.THORAX] = poses[70:, Joint.THORAX] @ tilt.T  # a third of the frames: a kicking person
    assert np.degrees(np.arccos(ac.up_direction(poses) @ up)) < 1.0


def test_floor_frame_puts_the_floor_at_zero(rng) -> None:
    turn = axis_angle(np.array([1.0, 2.0, 3.0]) / math.sqrt(14), 0.7)  # some frame of the reconstruction
    offsets = np.array([[0.5, 0.2, 0.0], [-0.7, 0.4, 0.0], [0.1, -0.9, 0.0]])
    poses = (STANDING_BODY[None] + offsets[:, None]) @ turn.T + [1.0, 2.0, 3.0]
    cam = ring_camera(0, 1.7, 1400.0)
    A, b = ac.floor_frame(poses, cam.R @ turn.T, "z-up")
    world = poses @ A.T + b
    ankles = world[:, [Joint.LFOOT, Joint.RFOOT]]
    np.testing.assert_allclose(ankles[..., 2], 0.08, atol=1e-9)  # on the floor
    np.testing.assert_allclose(ankles[..., :2].mean((0, 1)), 0, atol=1e-9)  # origin under the people
    forward = (cam.R @ turn.T)[2] @ A.T  # the first camera's optical axis in the world
    assert forward[0] == pytest.approx(0, abs=1e-9) and forward[1] > 0


def test_umeyama_finds_the_similarity(rng) -> None:
    src = rng.normal(size=(50, 3))
    R = axis_angle(np.array([0.0, 0.6, 0.8]), 1.1)
    dst = 2.5 * src @ R.T + [1, 2, 3]
    dst[:3] += 10  # outliers for the robust variant
    s, Rf, t = ac.robust_umeyama(src, dst)
    assert s == pytest.approx(2.5) and np.allclose(Rf, R) and np.allclose(t, [1, 2, 3])


def test_compare_against_itself_is_zero(clean) -> None:
    _, _, cal = clean
    cmp = ac.compare(cal, cal.cameras)
    assert cmp["scale"] == pytest.approx(1.0)
    assert cmp["position_m"].max() < 1e-9 and cmp["rotation_deg"].max() < 1e-5


# -- the Pose2Sim .toml writer ---------------------------------------------------------------------------
def test_toml_round_trip_through_read_calibration(tmp_path: Path, clean) -> None:
    _, _, cal = clean
    cams = {f"cam{i + 1}": c for i, c in enumerate(cal.cameras)}
    cams["lens"] = replace(cal.cameras[0], dist=(-0.05, 0.14, 0.001, -0.0007, 0.02))  # k3 kept
    cams['odd "name" é\\'] = replace(cal.cameras[1], dist=(-0.05, 0.14, 0.001, -0.0007, 0.0))
    cams["metadata"] = Camera(800.0, 810.0, 320.0, 240.0)  # no size, no extrinsics; the name is no table
    path = write_calibration_toml(tmp_path / "out" / "calib.toml", cams)
    back = read_calibration(path)
    assert list(back) == list(cams)
    for name, cam in cams.items():
        got = back[name]
        np.testing.assert_allclose(got.K, cam.K, rtol=0, atol=0)
        assert (got.width, got.height) == (cam.width, cam.height)
        assert got.dist == pytest.approx(cam.dist) and len(got.dist) in (0, 5)
        if cam.R is None:
            assert got.R is None and got.t is None
        else:
            np.testing.assert_allclose(got.R, cam.R, atol=1e-14)
            np.testing.assert_allclose(got.t, cam.t, atol=0)
    text = path.read_text()
    assert "[cam1]" in text and "fisheye = false" in text and "[metadata]\nadjusted = false" in text
    assert "distortions = [-0.05, 0.14, 0.001, -0.0007]\n" in text  # Pose2Sim's 4 terms when k3 is 0
    assert not list(path.parent.glob(".*tmp"))  # no temporary file left


def test_toml_writer_refuses_what_it_cannot_write(tmp_path: Path) -> None:
    cam = Camera(800.0, 800.0, 320.0, 240.0, 640, 480)
    with pytest.raises(ValueError, match="non-finite"):
        write_calibration_toml(tmp_path / "a.toml", {"a": replace(cam, cx=float("nan"))})
    with pytest.raises(ValueError, match="no camera"):
        write_calibration_toml(tmp_path / "a.toml", {})
    (tmp_path / "file").write_text("")
    with pytest.raises(InputError, match="cannot write"):
        write_calibration_toml(tmp_path / "file" / "a.toml", {"a": cam})
