"""The detector suite's quick report: 1, 2 and 4 persons in view, tracking vs detector every frame."""

from __future__ import annotations

import numpy as np
import pytest

from camerapose.benchmarks import detector as bench

pytestmark = pytest.mark.slow  # processes, models or training: not in `make test-fast`


def test_four_person_frames_keep_the_frame_size():
    frame = np.arange(10 * 20 * 3, dtype=np.uint8).reshape(10, 20, 3)
    four = bench.four_person_frame(frame)
    assert four.shape == frame.shape and four.flags.c_contiguous
    np.testing.assert_array_equal(four[:, 10:], four[:, :10][:, ::-1])


def test_agreement_is_the_median_joint_distance_to_our_closest_person():
    from camerapose.core.skeleton import BLAZEPOSE33
    from camerapose.runtime.detect.base import Person2D

    landmarks = np.random.default_rng(0).uniform(0, 500, (33, 2))
    mp17, _ = BLAZEPOSE33(landmarks)

    def person(kp):
        return Person2D(1, kp.astype(np.float32), np.ones(17, np.float32), np.zeros(4, np.float32), 1.0)

    near, far = person(mp17 + [3.0, 4.0]), person(mp17 + 300.0)
    assert bench.closest_pose_error(landmarks, [far, near]) == pytest.approx(5.0, abs=1e-3)


@pytest.mark.assets
def test_quick_run_reports_every_window_and_variant(tmp_path, demo_video, written, stats_keys):
    md, data = written(bench.run(quick=True, out_dir=tmp_path), tmp_path, ("detector_latency.png",))
    assert "Per-frame latency (ms)" in md and "Recall: persons found" in md and "one batched call" in md
    assert data["quick"] is True and data["max_persons"] >= 4
    assert set(data["windows"]) == {"1", "2", "4"} and set(data["recall"]) == {"1 in view", "2 in view",
                                                                              "4 in view"}
    for by in data["recall"].values():
        assert set(by) >= {bench.TRACKING, bench.TRACKING_SYNC, bench.EVERY_FRAME}
    assert all(stats_keys(s) for by in data["results"].values() for s in by.values())
    assert data["results"]["1 person"][bench.TRACKING]["n"] > 0
    assert set(data["landmark_batching"]) == {"1 crop", "2 crops, one call", "2 crops, two calls"}
    assert ("mediapipe" in data["results"]["1 person"]) if data["mediapipe"] else ("not installed" in md)
    if data["mediapipe"]:  # MediaPipe in its side venv: our 2D is compared with its pose
        assert data["agreement_px"][bench.TRACKING]["n"] > 0 and "2D agreement" in md
