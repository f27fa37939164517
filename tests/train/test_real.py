"""The `real` set as training reads it (camerapose.train.data.real) and its evaluation
(camerapose.train.real_eval), on a tiny synthetic file in the layout `camerapose.real_set.build`
writes: two portrait cameras, two walking people, exact 2D, the truth as the triangulated 3D."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from camerapose.core.camera import Camera, normalize_intrinsics, normalize_screen, project
from camerapose.core.errors import InputError
from camerapose.core.lift_steps import PostConfig
from camerapose.core.skeleton import NUM_JOINTS
from camerapose.train import real_eval
from camerapose.train.data.real import RealSet, load_real

from ..conftest import STANDING_BODY, ring_camera

T, W, H = 10, 1088, 1920
VIEWS = ("cam01", "cam02")
TRACK_IDS = ((4, 1), (7, 9))  # per view: person 0's and person 1's track id
NAN_ROW = (1, 0, 4)  # (view, person, frame) whose left wrist was not triangulated
NO_DET_ROW = (0, 1, 2)  # (view, person, frame) the detector gave no 3D for
DET_NOISE = 0.02


def camera(angle_deg: float, f: float) -> Camera:
    return ring_camera(angle_deg, 1.7, f, (), (W, H), offset=(5, -8))


CAMS = (camera(40, 1690.0), camera(150, 1710.0))


def world(person: int, frame: int) -> np.ndarray:
    """(17, 3) world metres: person 0 walks along +x, person 1 along +y, both turning."""
    yaw = np.deg2rad((20.0, -60.0)[person] + 3 * frame)
    c, s = np.cos(yaw), np.sin(yaw)
    Rz = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    x, y = ((-0.6 + 0.02 * frame, -0.2), (0.6, 0.3 + 0.02 * frame))[person]
    return STANDING_BODY @ Rz.T + [x, y, 0.0]


def truth(view: int, person: int, frame: int) -> np.ndarray:
    """(17, 3) the person in view's camera frame."""
    cam = CAMS[view]
    return world(person, frame) @ cam.R.T + cam.t


def write_set(path: Path, seed: int = 0) -> Path:
    """The columns and dtypes of real_set.build, rows stored in a shuffled order."""
    rng = np.random.default_rng(seed)
    cols: dict[str, list] = {k: [] for k in ("view", "frame", "person", "track", "kp2d", "conf", "det3d",
                                             "size", "intrinsics", "gt3d")}
    for v, cam in enumerate(CAMS):
        for p in range(2):
            for f in range(T):
                X = truth(v, p, f)
                gt = X.copy()
                if (v, p, f) == NAN_ROW:
                    gt[13] = np.nan
                det = X - X[0] + rng.normal(0.0, DET_NOISE, X.shape)
                if (v, p, f) == NO_DET_ROW:
                    det[:] = np.nan
                for key, value in (("view", v), ("frame", f), ("person", p), ("track", TRACK_IDS[v][p]),
                                   ("kp2d", project(cam, X)), ("conf", rng.uniform(0.5, 1.0, NUM_JOINTS)),
                                   ("det3d", det), ("size", (cam.width, cam.height)),
                                   ("intrinsics", (cam.fx, cam.fy, cam.cx, cam.cy)), ("gt3d", gt)):
                    cols[key].append(value)
    order = rng.permutation(len(cols["view"]))
    arrays = {k: np.asarray(v)[order] for k, v in cols.items()}
    arrays["key"] = np.asarray("0" * 64)
    arrays["views"] = np.asarray(VIEWS)
    arrays["qa"] = np.asarray(json.dumps({"rows": len(order), "persons": 2}))
    np.savez(path, **arrays)
    return path


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> RealSet:
    return load_real(write_set(tmp_path_factory.mktemp("real") / "pose2sim_multi.npz"))


def true_poses(real: RealSet) -> np.ndarray:
    """(N, 17, 3) every row's true pose in its camera frame (also where gt3d has NaN)."""
    return np.stack([truth(v, p, f) for v, p, f in zip(real.view, real.person, real.frame, strict=True)])


def model_outputs(real: RealSet, noise: float = 0.0, seed: int = 1) -> dict[str, np.ndarray]:
    """What the pose model would output for the rows, from the true camera and pose (a perfect
    lifter with noise=0): kp3d root-relative metres, focal/center/kp2d_refined normalised, t metres."""
    X = true_poses(real)
    rel = X - X[:, :1] + np.random.default_rng(seed).normal(0.0, noise, X.shape)
    w, h = real.size[:, :1], real.size[:, 1:]
    focal, center = normalize_intrinsics(real.intrinsics[:, :2], real.intrinsics[:, 2:], w, h)
    f32 = np.float32
    return {"kp3d": (rel - rel[:, :1]).astype(f32), "focal": focal.astype(f32), "center": center.astype(f32),
            "t": X[:, 0].astype(f32),
            "kp2d_refined": normalize_screen(real.kp2d_px, w[:, None], h[:, None]).astype(f32)}


def row(real: RealSet, view: int, person: int, frame: int) -> int:
    return int(np.flatnonzero((real.view == view) & (real.person == person) & (real.frame == frame))[0])


# --- load_real --------------------------------------------------------------------------------------


def test_rows_are_ordered_by_view_track_and_frame(real):
    assert len(real) == 2 * 2 * T and real.views == VIEWS
    key = list(zip(real.view.tolist(), real.track.tolist(), real.frame.tolist(), strict=True))
    assert key == sorted(key) and len(set(key)) == len(key)


def test_every_column_follows_its_row(real):
    X = true_poses(real)
    np.testing.assert_allclose(real.kp2d_px, np.stack([project(CAMS[v], x) for v, x in zip(real.view, X,
                                                                                          strict=True)]))
    for v in range(2):
        m = real.view == v
        assert set(zip(real.person[m].tolist(), real.track[m].tolist(), strict=True)) == \
            {(p, TRACK_IDS[v][p]) for p in range(2)}
        assert (real.intrinsics[m] == [CAMS[v].fx, CAMS[v].fy, CAMS[v].cx, CAMS[v].cy]).all()
        assert (real.size[m] == [W, H]).all()
    ok = np.isfinite(real.gt3d)
    np.testing.assert_allclose(real.gt3d[ok], X[ok])


def test_poses_hold_the_truth_root_relative_and_the_true_camera(real):
    p = real.poses
    X = true_poses(real)
    good = p.has_3d
    np.testing.assert_allclose(p.kp3d[good], (X - X[:, :1])[good], atol=1e-6)
    np.testing.assert_allclose(p.t[good], X[good, 0], atol=1e-6)
    w, h = real.size[:, :1], real.size[:, 1:]
    focal, center = normalize_intrinsics(real.intrinsics[:, :2], real.intrinsics[:, 2:], w, h)
    np.testing.assert_allclose(p.focal[good], focal[good], rtol=1e-6)
    np.testing.assert_allclose(p.center[good], center[good], atol=1e-6)
    np.testing.assert_allclose(p.kp2d, normalize_screen(real.kp2d_px, w[:, None], h[:, None]), atol=1e-6)


def test_a_row_with_an_untriangulated_joint_has_no_3d_and_finite_arrays(real):
    i = row(real, *NAN_ROW)
    assert np.isnan(real.gt3d[i, 13]).all() and np.isfinite(np.delete(real.gt3d[i], 13, 0)).all()
    assert not real.poses.has_3d[i] and not real.poses.has_camera[i]
    assert real.poses.has_3d.sum() == len(real) - 1
    for name, a in real.poses.arrays().items():
        assert np.isfinite(a).all() if a.dtype.kind == "f" else True, name
    assert not real.poses.kp3d[i].any() and not real.poses.t[i].any()
    j = row(real, *NO_DET_ROW)
    assert np.isnan(real.det3d[j]).all() and real.poses.has_3d[j]  # no detector 3D: still scored


def test_of_view_and_subset_keep_the_columns_aligned(real):
    cam = real.of_view("cam02")
    assert len(cam) == 2 * T and (cam.view == 1).all() and cam.views == VIEWS
    np.testing.assert_allclose(cam.poses.kp3d[cam.poses.has_3d],
                               (cam.gt3d - cam.gt3d[:, :1])[cam.poses.has_3d], atol=1e-6)
    perm = np.random.default_rng(3).permutation(len(real))
    sub = real.subset(perm)
    for f in dataclasses.fields(RealSet):
        if f.name not in ("poses", "views", "fps"):
            np.testing.assert_array_equal(getattr(sub, f.name), getattr(real, f.name)[perm], err_msg=f.name)
    for name, a in sub.poses.arrays().items():
        np.testing.assert_array_equal(a, real.poses.arrays()[name][perm], err_msg=name)
    mask = real.frame < 3
    assert len(real.subset(mask)) == mask.sum() == 2 * 2 * 3


def _one_line_naming(err: pytest.ExceptionInfo, path: Path) -> None:
    msg = str(err.value)
    assert str(path) in msg and "\n" not in msg


def test_a_missing_file_is_one_input_error_line_naming_it(tmp_path):
    path = tmp_path / "real" / "pose2sim_multi.npz"
    with pytest.raises(InputError) as err:
        load_real(path)
    _one_line_naming(err, path)


def test_a_file_that_is_not_an_npz_is_one_input_error_line_naming_it(tmp_path):
    path = tmp_path / "bad.npz"
    path.write_bytes(b"this is not a real-set file\n" * 10)
    with pytest.raises(InputError) as err:
        load_real(path)
    _one_line_naming(err, path)


@pytest.mark.parametrize("keep", [0.0, 0.5, 0.99])
def test_a_truncated_file_is_one_input_error_line_naming_it(tmp_path, keep):
    good = write_set(tmp_path / "good.npz").read_bytes()
    path = tmp_path / "cut.npz"
    path.write_bytes(good[: int(len(good) * keep)])
    with pytest.raises(InputError) as err:
        load_real(path)
    _one_line_naming(err, path)


def test_a_file_without_a_column_is_one_input_error_line_naming_it(tmp_path):
    path = tmp_path / "old.npz"
    with np.load(write_set(tmp_path / "full.npz")) as z:
        np.savez(path, **{k: z[k] for k in z.files if k != "gt3d"})
    with pytest.raises(InputError) as err:
        load_real(path)
    _one_line_naming(err, path)


# --- real_eval --------------------------------------------------------------------------------------

PLAIN = PostConfig(smooth=False, bone_window=0, camera_window=0)


@pytest.fixture(scope="module")
def table(real):
    return real_eval.evaluate_real(model_outputs(real), real, PLAIN)


def test_a_perfect_lifter_scores_zero_and_the_noisy_detector_does_not(real, table):
    lifter = table["real/lifter"]
    assert lifter["n"] == len(real) - 1
    assert lifter["mpjpe"] < 0.01 and lifter["p_mpjpe"] < 0.01
    assert lifter["focal_rel_err"] < 1e-5 and lifter["depth_rel_err"] < 1e-5
    assert lifter["depth_rel_err_given_k"] < 1e-5
    det = table["real/detector-3d"]
    assert det["n"] == len(real) - 2  # nor the row without the detector's 3D
    assert 5.0 < det["p_mpjpe"] < 60.0
    # The cross-validated weights leave the noisy detector out: the published pose is the truth.
    assert table["real"]["p_mpjpe"] < 0.01 and table["real"]["focal_rel_err"] < 1e-5
    assert table["real"]["depth_rel_err"] < 1e-4 and table["real"]["depth_rel_err_given_k"] < 1e-4
    # The shipped weights blend the detector in.
    assert table["real/in-sample"]["p_mpjpe"] > 1.0
    assert table["real/no-fusion"]["p_mpjpe"] < 0.01


def test_the_table_has_a_row_per_view_and_per_step_variant(real, table):
    expected = {"real", "real/detector-3d", "real/lifter", "real/in-sample",
                *(f"real/{v}" for v in VIEWS), *(f"real/{v}/detector-3d" for v in VIEWS),
                *(f"real/{name}" for name in real_eval.STEP_VARIANTS)}
    assert set(table) == expected
    for v in VIEWS:
        assert table[f"real/{v}"]["n"] + table[f"real/{v}/detector-3d"]["n"] > 0
        assert table[f"real/{v}/detector-3d"]["p_mpjpe"] > 5.0
    assert sum(table[f"real/{v}"]["n"] for v in VIEWS) == table["real"]["n"] == len(real) - 1
    for name, values in table.items():
        assert all(np.isfinite(x) for x in values.values()), name


def test_cross_validated_weights_of_a_view_never_see_its_rows(real):
    lifter = model_outputs(real, noise=0.015)["kp3d"].astype(np.float64)
    weights = real_eval.cross_validated_weights(real, lifter)
    assert set(weights) == {0, 1}
    truth = true_poses(real)
    perfect0 = np.where((real.view == 0)[:, None, None], truth - truth[:, :1], real.det3d)
    changed = real_eval.cross_validated_weights(dataclasses.replace(real, det3d=perfect0), lifter)
    np.testing.assert_array_equal(changed[0], weights[0])
    assert not np.array_equal(changed[1], weights[1])  # view 1's weights are fitted on view 0


def test_publish_feeds_each_view_frame_by_frame_in_time_order(real, monkeypatch):
    calls: list[list[tuple[str, int, float]]] = []

    class Recording(real_eval.LiftSteps):
        def __call__(self, items, out):
            calls.append([(i.stream, i.frame, i.t) for i in items])
            return super().__call__(items, out)

    monkeypatch.setattr(real_eval, "LiftSteps", Recording)
    shuffled = np.random.default_rng(5).permutation(len(real))
    out = model_outputs(real, noise=0.01)
    real_eval.publish(real.subset(shuffled), {k: a[shuffled] for k, a in out.items()}, PostConfig())
    assert sum(len(c) for c in calls) == len(real)
    by_stream: dict[str, list[float]] = {}
    for call in calls:
        assert len({(s, f) for s, f, _ in call}) == 1  # one frame of one view per call
        by_stream.setdefault(call[0][0], []).append(call[0][2])
    assert set(by_stream) == set(VIEWS)
    for times in by_stream.values():
        assert times == sorted(times) and len(times) == T


def test_published_poses_do_not_depend_on_the_row_order(real):
    out = model_outputs(real, noise=0.01)
    cfg = PostConfig()  # smoothing, bones and the steady camera on: every step keeps state
    pub = real_eval.publish(real, out, cfg)
    perm = np.random.default_rng(11).permutation(len(real))
    shuffled = real_eval.publish(real.subset(perm), {k: a[perm] for k, a in out.items()}, cfg)
    for k in pub:
        np.testing.assert_allclose(shuffled[k], pub[k][perm], atol=1e-5, err_msg=k)
    raw = real_eval.publish(real, out, dataclasses.replace(cfg, smooth=False))
    assert np.abs(raw["kp3d"] - pub["kp3d"]).max() > 1e-3  # the smoothing has state to get wrong
