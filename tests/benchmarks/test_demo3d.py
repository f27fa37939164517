"""The demo-video 3D report on the first frames of the demo, and the teacher set's .npz round trip."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from camerapose.benchmarks import demo3d
from camerapose.core.errors import AssetError, InputError

FRAMES = 80  # the man is in view from frame ~3, the woman from ~40: both tracked for >= 20 frames
MIN_FRAMES = 20


@pytest.fixture(scope="module")
def demo() -> Path:
    from camerapose.assets import asset_path

    try:
        asset_path("pose_detection.tflite")
        asset_path("pose_landmark_full.tflite")
        return asset_path("demo.mp4")
    except AssetError as err:
        pytest.skip(f"demo assets missing ({err})")


@pytest.fixture(scope="module")
def report(demo: Path) -> dict:
    if not demo3d.DEFAULT_MODEL.is_file():
        pytest.skip("the shipped pose model is not exported")
    return demo3d.demo_3d_report(max_frames=FRAMES, min_frames=MIN_FRAMES)


@pytest.mark.slow
@pytest.mark.assets
def test_report_tracks_both_people_with_finite_sane_figures(report: dict) -> None:
    assert report["frames"] == FRAMES and report["fps"] == pytest.approx(30.0)
    tracks = report["tracks"]
    assert len(tracks) >= 2, [(t["id"], t["frames"]) for t in tracks]
    for t in tracks:
        assert t["frames"] >= MIN_FRAMES and t["first_frame"] <= t["last_frame"] < FRAMES
        for key in ("dist_raw_mm", "dist_pa_mm", "bone_cv_pct", "bone_cv_blazepose_pct", "jitter_abs",
                    "jitter_rel", "jitter_blazepose", "tz_median_m", "tz_range_m"):
            assert math.isfinite(t[key]) and t[key] >= 0, (key, t[key])
        assert len(t["per_joint_raw_mm"]) == len(t["per_joint_pa_mm"]) == 17
        assert t["per_joint_raw_mm"][0] == pytest.approx(0.0, abs=1e-3)  # both poses pelvis-centred
        # Aligning with rotation and scale can only bring the poses closer (in the squared sense),
        # and a real person is within a metre of either estimate, never centimetres of nothing.
        assert t["dist_pa_mm"] <= t["dist_raw_mm"] * 1.05 and 10 < t["dist_raw_mm"] < 1000
        assert 1.0 < t["tz_median_m"] < 30.0
    pj = report["per_joint"]
    assert pj["joints"][0] == "pelvis" and len(pj["raw_mm"]) == len(pj["pa_mm"]) == 17


@pytest.mark.slow  # needs an exported model / a demo run (module fixture)
@pytest.mark.assets
def test_markdown_has_one_row_per_track(report: dict) -> None:
    md = report["markdown"]
    rows = [line for line in md.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert len(rows) == len(report["tracks"])
    assert "bone-length CV" in md and "t_z p95-p5" in md and "Per joint" in md


@pytest.mark.assets
def test_teacher_set_round_trips_through_npz_without_pickle(demo: Path, tmp_path: Path) -> None:
    teacher = demo3d.extract_teacher(demo, max_frames=8)
    n = len(teacher["frame"])
    assert n >= 4  # the man is found from frame ~3
    assert teacher["kp2d"].shape == (n, 17, 2) and teacher["conf"].shape == (n, 17)
    assert teacher["size"].shape == (n, 2) and tuple(teacher["size"][0]) == (1768, 994)
    assert teacher["det3d"].shape == (n, 17, 3) and teacher["det3d"].dtype == np.float32
    assert np.allclose(teacher["det3d"][:, 0], 0.0)
    assert np.all(np.diff(teacher["frame"]) >= 0) and int(teacher["video_frames"]) == 8
    path = demo3d.save_teacher(tmp_path / "teacher.npz", teacher)
    back = demo3d.load_teacher(path)
    for key in demo3d.TEACHER_KEYS:
        np.testing.assert_array_equal(back[key], teacher[key])
    with np.load(path, allow_pickle=False) as z:
        assert all(z[k].dtype != object for k in z.files)


def test_bad_teacher_files_and_videos_are_input_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.npz"
    np.savez(bad, frame=np.zeros(3), t=np.zeros(2))
    with pytest.raises(InputError, match="not a teacher set"):
        demo3d.load_teacher(bad)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(InputError, match="not a readable teacher"):
        demo3d.load_teacher(tmp_path / "junk.npz")
    with pytest.raises(InputError, match="no such video"):
        demo3d.extract_teacher(tmp_path / "missing.mp4")
    with pytest.raises(InputError, match="missing arrays"):
        demo3d.save_teacher(tmp_path / "x.npz", {"frame": np.zeros(1)})
