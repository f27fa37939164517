"""The multicamera suite: its figures on a synthetic world stream whose answers are known (fast),
and (slow, assets) its quick report on Pose2Sim's four views."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from camerapose.benchmarks import multicamera as bench
from camerapose.core.errors import CameraPoseError
from camerapose.core.skeleton import MEAN_BONE_LENGTHS, NUM_JOINTS, Joint, with_bone_lengths
from camerapose.runtime.wire import schema

FRAMES = 20
OFFSET = np.array([0.0, 0.0, 0.25])  # camera "b"'s monocular error: its pose 25 cm too far along its z


def stand() -> np.ndarray:
    """A person (17, 3) in a z-up world, pelvis 0.9 m above the origin, bones of mean length."""
    rng = np.random.default_rng(3)
    pose = rng.normal(0, 0.3, (NUM_JOINTS, 3)) + [0, 0, 0.9]
    return with_bone_lengths(pose[None], np.array(MEAN_BONE_LENGTHS)[None])[0]


def cams() -> list[tuple[str, np.ndarray, np.ndarray]]:
    a = np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])
    b = np.array([[0.0, 1, 0], [0, 0, -1], [-1, 0, 0]])
    return [("a", a, -a @ np.array([0, -4, 1.5])), ("b", b, -b @ np.array([4, 0, 1.5]))]


def messages() -> list[dict]:
    """Per frame: camera a's and b's messages (a exact, b OFFSET off in its own frame; both see the
    person as their track 7), then the world message (world id 1, joint 13 filled, frame 10 single
    view, fuse timing = frame index ms)."""
    pose = stand()
    out = []
    for f in range(FRAMES):
        for name, R, t in cams():
            X = pose @ R.T + t + (OFFSET if name == "b" else 0)
            p = schema.person(7, 0.9, np.zeros(4), np.full((17, 2), 100.0), np.ones(17), X, 1000, 1000, 500,
                              500, X[0])
            out.append({"schema": 1, "stream": name, "frame": f, "t_capture": f / 30, "t_publish": f / 30,
                        "image_size": [1000, 1000], "timings": {}, "persons": [p]})
        views = np.full(17, 3.0 if f % 2 else 2.0)
        views[13] = 0
        reproj = np.where(views > 0, 2.0 + (f % 2) * 2, 0.0)
        wp = schema.world_person(1, 0.9, pose, views, reproj, f == 10, {"a": 7, "b": 7})
        out.append({"schema": 1, "kind": "world", "stream": "world", "frame": f, "t_capture": f / 30,
                    "t_publish": f / 30, "t_media": f / 30, "fps": 30.0, "timings": {"fuse": float(f)},
                    "cameras": [schema.camera_pose(n, n, (1000, 1000, 500, 500), R, t, (1000, 1000))
                                for n, R, t in cams()], "persons": [wp]})
    return [schema.decode(schema.pack(m)) for m in out]


def test_the_figures_of_a_known_world_stream() -> None:
    f = bench.analyse(messages())
    assert f["world_frames"] == FRAMES and f["cameras"] == ["a", "b"]
    assert f["camera_frames"] == {"a": FRAMES, "b": FRAMES}
    assert f["fuse_ms"]["p50"] == pytest.approx(9.5) and f["fuse_ms"]["n"] == FRAMES
    assert f["ids"] == {1: {"frames": FRAMES, "coverage": 1.0, "first": 0, "last": FRAMES - 1}}
    r = f["reprojection_px"]
    assert r["n"] == FRAMES * 16 and r["median"] == pytest.approx(3.0) and r["by_views"][2]["median"] == 2.0
    assert r["by_views"][3]["p90"] == pytest.approx(4.0)
    b = f["bones"][1]
    assert b["median_cv_long"] == pytest.approx(0.0, abs=1e-9) and "RHip-RKnee" in b["long_bones"]
    assert f["fills"] == {"person_frames": FRAMES, "joints": FRAMES * 17, "filled": FRAMES,
                          "filled_share": 1 / 17, "single_view": 1, "single_view_share": 1 / FRAMES}
    sv = f["single_view"]
    assert sv["per_stream"]["a"]["n"] == FRAMES - 1  # the single-view frame left out
    for key in ("pelvis", "absolute", "mpjpe", "p_mpjpe"):
        assert sv["per_stream"]["a"][key]["median"] == pytest.approx(0.0, abs=1e-3)  # mm
    b_err = sv["per_stream"]["b"]
    assert b_err["pelvis"]["median"] == pytest.approx(250.0, abs=1e-3)  # the offset, back in the world
    assert b_err["absolute"]["median"] == pytest.approx(250.0, abs=1e-3)
    assert b_err["mpjpe"]["median"] == pytest.approx(0.0, abs=1e-3) and b_err["p_mpjpe"]["median"] < 1e-3
    assert b_err["size"]["median"] == pytest.approx(1.0)
    assert sv["per_stream"]["a"]["depth"]["median"] == pytest.approx(1.0)
    depth_b = (cams()[1][1] @ stand()[Joint.PELVIS] + cams()[1][2])[2]
    assert b_err["depth"]["median"] == pytest.approx((depth_b + 0.25) / depth_b)
    assert sv["all"]["n"] == 2 * (FRAMES - 1) and f["reference"] is None


def test_camera_points_go_back_to_the_world_with_the_extrinsics() -> None:
    pose = stand()
    for _, R, t in cams():
        np.testing.assert_allclose(bench.camera_to_world(pose @ R.T + t, R, t), pose, atol=1e-12)


def test_pose_errors_need_enough_triangulated_joints_and_the_pelvis() -> None:
    pose = stand()
    mask = np.ones(17, bool)
    assert bench.pose_errors(pose, pose, mask)["p_mpjpe"] == pytest.approx(0.0, abs=1e-9)
    assert bench.pose_errors(pose, pose, np.arange(17) < bench.MIN_JOINTS - 1) is None
    no_pelvis = mask.copy()
    no_pelvis[Joint.PELVIS] = False
    assert bench.pose_errors(pose, pose, no_pelvis) is None
    turned = pose @ np.array([[0.0, -1, 0], [1, 0, 0], [0, 0, 1]]).T * 1.1 + 2.0
    err = bench.pose_errors(turned, pose, mask)
    assert err["p_mpjpe"] == pytest.approx(0.0, abs=1e-9) and err["absolute"] > 1.0


def test_the_reference_comparison_matches_people_by_their_pelvis() -> None:
    msgs = messages()
    pose = stand()
    ref = {(4, f): pose + [0.01, 0, 0] for f in range(FRAMES)}
    ref.update({(5, f): pose + [3.0, 0, 0] for f in range(FRAMES)})  # someone else, far away
    out = bench.against_reference([m for m in msgs if bench.is_world(m)], ref)
    assert out["n"] == FRAMES and out["ids"] == {1: [4]}
    assert out["mpjpe_mm"]["median"] == pytest.approx(10.0, abs=1e-3) and out["p_mpjpe_mm"]["median"] < 1e-3
    assert bench.against_reference([m for m in msgs if bench.is_world(m)], {(5, 0): pose + 3.0}) is None


def test_a_run_without_the_world_stream_is_one_line() -> None:
    with pytest.raises(CameraPoseError, match="no message of the world stream"):
        bench.analyse([m for m in messages() if not bench.is_world(m)])


def test_the_suite_is_registered_but_not_in_all() -> None:
    from camerapose.benchmarks.cli import ALL, SUITES

    assert SUITES["multicamera"][0] == "camerapose.benchmarks.multicamera" and "multicamera" not in ALL


@pytest.mark.slow
@pytest.mark.assets
def test_quick_report_of_the_four_views(tmp_path: Path, written) -> None:
    try:
        report = bench.run(quick=True, out_dir=tmp_path)
    except CameraPoseError as err:
        pytest.skip(str(err))
    text, data = written(report, tmp_path, ("multicamera.png",))
    assert data["quick"] and data["world_frames"] == bench.QUICK_FRAMES and len(data["ids"]) == 2
    assert data["fuse_alone"]["ids_same"] and data["fuse_alone"]["max_diff_m"] < 1e-3
    assert data["reprojection_px"]["median"] < 10
    assert set(data["single_view"]["per_stream"]) == set(bench.VIEWS)
    assert "Single-view 3D vs the fused world pose" in text
