"""The `real` set's build steps (camerapose.real_set) on a synthetic calibrated rig: four portrait
cameras with lens distortion around two walking people, tracked per view with each view's own ids.
No video and no detector: the 2D is the true projection plus 1 px noise."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from camerapose import real_set
from camerapose.core.calibration import projection_matrix
from camerapose.core.camera import Camera, project
from camerapose.core.skeleton import NUM_JOINTS

from .conftest import STANDING_BODY, ring_camera

T = 12
W, H = 1088, 1920
# Per view: the track id of person 0 and of person 1 (every view numbers its tracks its own way).
TRACK_IDS = ((3, 7), (12, 5), (40, 41), (9, 2))
GAP_VIEW, GAP_PERSON, GAP_FRAMES = 2, 1, range(4, 8)  # person 1 unseen by view 2 on these frames


def camera(angle_deg: float, height: float, f: float, dist: tuple[float, ...]) -> Camera:
    return ring_camera(angle_deg, height, f, dist, (W, H), offset=(7, -11))


CAMS = [camera(a, h, f, d) for a, h, f, d in zip(
    (30, 120, 210, 300), (1.6, 2.1, 1.8, 1.9), (1680.0, 1700.0, 1720.0, 1690.0),
    ((-0.3, 0.12, 0.0, 0.0, 0.0), (), (0.2, -0.05, 0.002, -0.002, 0.0), ()), strict=True)]
P = np.stack([projection_matrix(c) for c in CAMS])


def people() -> np.ndarray:
    """(2, T, 17, 3) world metres: two people walking past each other, turning a little."""
    out = np.zeros((2, T, NUM_JOINTS, 3))
    for i, (start, step, yaw0) in enumerate((((-0.6, -0.3), (0.015, 0.01), 20.0),
                                             ((0.6, 0.4), (-0.01, 0.012), -70.0))):
        for f in range(T):
            c, s = np.cos(np.deg2rad(yaw0 + 2 * f)), np.sin(np.deg2rad(yaw0 + 2 * f))
            Rz = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
            out[i, f] = STANDING_BODY @ Rz.T + [start[0] + step[0] * f, start[1] + step[1] * f, 0.0]
    return out


def visible(view: int, person: int, frame: int) -> bool:
    return not (view == GAP_VIEW and person == GAP_PERSON and frame in GAP_FRAMES)


@pytest.fixture(scope="module")
def scene():
    """(world (2, T, 17, 3), views, det3d by (view, person, frame), rows, qa) from triangulate_views."""
    rng = np.random.default_rng(7)
    world = people()
    views, det3d = [], {}
    for v, cam in enumerate(CAMS):
        tracks = real_set.ViewTracks(size=(W, H))
        for f in range(T):
            for p in (1, 0):  # detections in no particular order
                if not visible(v, p, f):
                    continue
                Xc = world[p, f] @ cam.R.T + cam.t
                uv = project(cam, Xc) + rng.normal(0.0, 1.0, (NUM_JOINTS, 2))
                conf = rng.uniform(0.6, 1.0, NUM_JOINTS)
                d3 = None if (v, p, f) == (0, 0, 0) else Xc - Xc[0] + rng.normal(0, 0.02, (NUM_JOINTS, 3))
                det3d[v, p, f] = d3
                tracks.add(f, TRACK_IDS[v][p], uv, conf, d3)
        views.append(tracks)
    rows, qa = real_set.triangulate_views(P, CAMS, views)
    return world, views, det3d, {k: np.asarray(val) for k, val in rows.items()}, qa


def test_every_seen_person_view_and_frame_is_one_row(scene):
    _, _, det3d, rows, qa = scene
    n = len(det3d)
    assert n == 4 * 2 * T - len(GAP_FRAMES)
    assert all(len(col) == n for col in rows.values())
    keys = set(zip(rows["view"].tolist(), rows["track"].tolist(), rows["frame"].tolist(), strict=True))
    assert len(keys) == n  # no row twice
    assert qa["rows"] == n and qa["persons"] == 2


def test_one_person_index_per_true_person_across_views(scene):
    _, _, _, rows, _ = scene
    tracks_of = {int(p): set(zip(rows["view"][rows["person"] == p].tolist(),
                                 rows["track"][rows["person"] == p].tolist(), strict=True))
                 for p in np.unique(rows["person"])}
    truth = [{(v, TRACK_IDS[v][p]) for v in range(4)} for p in range(2)]
    assert sorted(tracks_of) == [0, 1]
    assert sorted(map(sorted, tracks_of.values())) == sorted(map(sorted, truth))


def test_gt3d_is_the_true_pose_in_each_views_camera_frame_within_a_centimetre(scene):
    world, _, _, rows, _ = scene
    person_of = {(v, TRACK_IDS[v][p]): p for v in range(4) for p in range(2)}
    err = []
    for i in range(len(rows["view"])):
        v, f = int(rows["view"][i]), int(rows["frame"][i])
        p = person_of[v, int(rows["track"][i])]
        cam = CAMS[v]
        err.append(np.linalg.norm(rows["gt3d"][i] - (world[p, f] @ cam.R.T + cam.t), axis=-1))
    err = np.array(err)
    assert np.isfinite(err).all()
    assert err.max() < 0.01, err.max()
    assert np.median(err) < 0.004


def test_rows_carry_the_views_detections_and_camera(scene):
    _, views, det3d, rows, _ = scene
    person_of = {(v, TRACK_IDS[v][p]): p for v in range(4) for p in range(2)}
    for i in range(len(rows["view"])):
        v, f, tr = int(rows["view"][i]), int(rows["frame"][i]), int(rows["track"][i])
        cam = CAMS[v]
        np.testing.assert_array_equal(rows["size"][i], (cam.width, cam.height))
        np.testing.assert_array_equal(rows["intrinsics"][i], (cam.fx, cam.fy, cam.cx, cam.cy))
        frames, uv, conf, _ = views[v].arrays(tr)
        k = int(np.flatnonzero(frames == f)[0])
        np.testing.assert_array_equal(rows["kp2d"][i], uv[k])  # the detector's own (distorted) pixels
        np.testing.assert_array_equal(rows["conf"][i], conf[k])
        d3 = det3d[v, person_of[v, tr], f]
        if d3 is None:
            assert np.isnan(rows["det3d"][i]).all()
        else:
            np.testing.assert_array_equal(rows["det3d"][i], d3)


def test_quality_figures_report_a_clean_triangulation(scene):
    _, _, _, _, qa = scene
    assert qa["median_reproj_px"] < 2.0
    assert qa["joints_kept_pct"] == pytest.approx(100.0)
    assert qa["swaps"] == 0
    assert set(qa["bone_cv_pct"]) == {"0", "1"}
    assert all(cv < 2.0 for cv in qa["bone_cv_pct"].values())
    assert "2 persons" in real_set.quality_line(qa)


def test_a_track_seen_in_one_view_only_is_not_a_person():
    views = [real_set.ViewTracks(size=(W, H)) for _ in CAMS]
    world = people()[0]
    for f in range(T):
        Xc = world[f] @ CAMS[0].R.T + CAMS[0].t
        views[0].add(f, 1, project(CAMS[0], Xc), np.ones(NUM_JOINTS), None)
    rows, qa = real_set.triangulate_views(P, CAMS, views)
    assert qa["rows"] == 0 and qa["persons"] == 0 and all(len(c) == 0 for c in rows.values())


def test_drop_jumps_removes_a_single_frame_outlier_and_keeps_smooth_motion():
    t = np.arange(20, dtype=float)
    world = STANDING_BODY[None] + t[:, None, None] * np.array([0.02, 0.01, 0.0])  # 2 cm per frame
    world = world + 0.01 * np.sin(t)[:, None, None]
    bad = world.copy()
    bad[9, 13] += [0.3, 0.0, 0.0]  # one wrist, one frame, 30 cm off
    bad[0, 3] += [0.0, 0.0, 0.3]  # and a foot on the first frame
    out = real_set.drop_jumps(bad, real_set.MAX_JUMP_M)
    gone = np.isnan(out).any(-1)
    assert gone[9, 13] and gone[0, 3] and gone.sum() == 2
    np.testing.assert_array_equal(out[~gone], world[~gone])
    np.testing.assert_array_equal(real_set.drop_jumps(world, real_set.MAX_JUMP_M), world)


def test_drop_jumps_keeps_nan_joints_nan_without_warnings():
    world = np.repeat(STANDING_BODY[None], 6, 0)
    world[:, 5] = np.nan
    with np.errstate(all="raise"):
        out = real_set.drop_jumps(world, 0.15)
    assert np.isnan(out[:, 5]).all() and np.isfinite(np.delete(out, 5, 1)).all()


def test_input_key_changes_with_build_version_and_inputs(monkeypatch, tmp_path):
    from camerapose import assets

    key = real_set.input_key()  # the asset table only: no cache needed
    assert key == real_set.input_key() and len(key) == 64
    monkeypatch.setattr(real_set, "BUILD_VERSION", real_set.BUILD_VERSION + 1)
    bumped = real_set.input_key()
    assert bumped != key
    name = real_set.VIDEO.format(view=real_set.VIEWS[2])
    monkeypatch.setitem(assets.ASSETS, name, dataclasses.replace(assets.ASSETS[name], sha256="0" * 64))
    assert real_set.input_key() not in (key, bumped)


def test_is_current_only_for_a_file_built_from_the_current_inputs(tmp_path):
    assert not real_set.is_current(tmp_path)
    dest = tmp_path / real_set.OUTPUT
    dest.parent.mkdir(parents=True)
    np.savez(dest, key=np.asarray(real_set.input_key()))
    assert real_set.is_current(tmp_path)
    np.savez(dest, key=np.asarray("stale"))
    assert not real_set.is_current(tmp_path)
    np.savez(dest, key=np.asarray(real_set.input_key()), filler=np.arange(1000.0))
    whole = dest.read_bytes()
    for bad in (b"not an npz", b"", whole[: len(whole) // 2], whole[:-10]):  # garbage, empty, cut
        dest.write_bytes(bad)
        assert not real_set.is_current(tmp_path)
