"""The BlazePose backend on real frames: parity with MediaPipe, two tracked people, batching, streams."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from camerapose.core.skeleton import to_h36m
from camerapose.runtime.detect import roi
from camerapose.runtime.detect.base import DetectorConfig, Person2D
from camerapose.runtime.detect.blazepose import (
    LANDMARK_SIZE,
    BlazePoseDetector,
    LandmarkModel,
    StreamState,
    merge_rois,
    world_h36m,
    world_to_frame_axes,
)
from camerapose.runtime.detect.person_detector import DETECTOR_SIZE, PersonDetector, detector_views
from camerapose.runtime.detect.registry import create_detector

from .conftest import unsmoothed

pytestmark = pytest.mark.slow  # processes, models or training: not in `make test-fast`

REFERENCE = Path(__file__).resolve().parents[1] / "data" / "mediapipe_reference.json"
BOTH_VISIBLE = range(90, 165)  # frames of the demo video where both people are in view


@pytest.fixture(scope="module")
def frames(demo_video: Path) -> list[np.ndarray]:
    """The first 165 frames of the demo video (decoded once for this module)."""
    cap = cv2.VideoCapture(str(demo_video))
    out = []
    while len(out) < BOTH_VISIBLE.stop:
        ok, f = cap.read()
        assert ok, "demo video shorter than expected"
        out.append(f)
    cap.release()
    return out


@pytest.fixture(scope="module")
def config(detector_models: tuple[Path, Path]) -> DetectorConfig:
    det, lm = detector_models
    return DetectorConfig(detector_model=str(det), landmark_model=str(lm))


def run(cfg: DetectorConfig, frames: list[np.ndarray]) -> list[list[Person2D]]:
    with create_detector(cfg) as det:
        return [det.detect([f], [i / 30])[0] for i, f in enumerate(frames)]


def test_keypoints_agree_with_mediapipes_own_pipeline(
    config: DetectorConfig, frames: list[np.ndarray]
) -> None:
    """Our H36M-17 keypoints vs MediaPipe's (mp.solutions.pose, full model, no smoothing).

    Bounds: this person's ROI is ~1000 px wide, so one pixel of the 256x256 crop is ~4 frame px
    and one heatmap cell ~16 px. Both pipelines run the same networks on the same frames; what
    differs is the resampling of the crop (interpolation and pixel-centre conventions) and the
    ROI of the very first frames (MediaPipe's detector-to-ROI path differs in rounding), after
    which both follow the landmarks. So we ask for a median error under one crop pixel (4 px)
    over all joints and frames, and, once tracking has run 5 frames, under 1.5 crop pixels
    (6 px) in every frame. Measured: median 2.2 px, worst frame after 5 frames 4.5 px.
    """
    ref = json.loads(REFERENCE.read_text())
    persons = run(unsmoothed(config), frames[: len(ref["frames"])])
    errors, found, first = [], 0, None
    for i, r in enumerate(ref["frames"]):
        if r is None:
            continue
        first = i if first is None else first
        assert persons[i], f"frame {i}: MediaPipe found a person, we found none"
        found += 1
        ref_kp, _ = to_h36m(np.asarray(r["xy"], np.float32), "blazepose33")
        ref_box = np.concatenate([ref_kp.min(0), ref_kp.max(0)])
        ours = min(persons[i], key=lambda p: float(np.abs(p.box - ref_box).sum()))
        errors.append((i, np.linalg.norm(ours.kp2d - ref_kp, axis=1)))
    assert found >= 50
    all_err = np.concatenate([e for _, e in errors])
    assert np.median(all_err) < 4.0
    worst = max(float(np.median(e)) for i, e in errors if i >= first + 5)
    assert worst < 6.0


def test_both_people_are_found_and_keep_their_ids(config: DetectorConfig, frames: list[np.ndarray]) -> None:
    persons = run(config, frames)
    window = [persons[i] for i in BOTH_VISIBLE]
    assert all(len(p) == 2 for p in window), [len(p) for p in window]
    ids = {p.id for ps in window for p in ps}
    assert len(ids) == 2
    # The two people are far apart (one on a roof, one on the lawn) and each id stays with one.
    for pid in ids:
        ys = [p.kp2d[:, 1].mean() for ps in window for p in ps if p.id == pid]
        assert np.ptp(ys) < 250
    first = window[0][0]
    assert first.kp2d.shape == (17, 2) and first.kp2d.dtype == np.float32
    assert first.conf.shape == (17,) and 0 <= first.conf.min() <= first.conf.max() <= 1
    assert first.box.shape == (4,) and first.box[2] > first.box[0] and first.box[3] > first.box[1]


def test_tracking_mode_runs_the_person_detector_only_every_n_frames(
    config: DetectorConfig, frames: list[np.ndarray]
) -> None:
    cfg = replace(config, detect_every=10)
    with create_detector(cfg) as det:
        runs = []
        for i, f in enumerate(frames[10:40]):
            det.detect([f], [i / 30])
            runs.append(det.last_stats["detector_frames"])
    assert 2 <= sum(runs) <= 6  # every 10th frame, plus the first ones until a pose is found


def test_detector_every_frame_finds_the_same_person(config: DetectorConfig, frames: list[np.ndarray]) -> None:
    every = run(unsmoothed(replace(config, detect_every=1)), frames[3:40])
    tracked = run(unsmoothed(config), frames[3:40])
    for a, b in zip(every[10:], tracked[10:], strict=True):
        assert len(a) >= 1 and len(b) >= 1
        assert np.median(np.linalg.norm(a[0].kp2d - b[0].kp2d, axis=1)) < 15


def test_landmark_model_batches_crops_in_one_call(
    detector_models: tuple[Path, Path], rng: np.random.Generator
) -> None:
    model = LandmarkModel(detector_models[1])
    crops = rng.uniform(0, 1, (3, LANDMARK_SIZE, LANDMARK_SIZE, 3)).astype(np.float32)
    batched = model(crops)
    single = [model(crops[i : i + 1]) for i in range(3)]
    assert batched.xy.shape == (3, 39, 2) and batched.pose_score.shape == (3,)
    for i, s in enumerate(single):
        assert np.allclose(batched.xy[i], s.xy[0], atol=1e-2)
        assert np.allclose(batched.visibility[i], s.visibility[0], atol=1e-4)


def test_streams_keep_their_own_tracks(config: DetectorConfig, frames: list[np.ndarray]) -> None:
    with create_detector(config) as det:
        for i in range(3, 12):
            a, b = det.detect([frames[i], frames[100 + i]], [i / 30, i / 30], streams=["cam0", "cam1"])
        c = det.detect([frames[12]], [12 / 30], streams=["cam0"])[0]
    assert len(a) == 1 and len(b) >= 1
    assert a[0].id == c[0].id == 1  # cam0's person kept its id
    assert min(p.id for p in b) == 1  # cam1 counts its own ids
    assert all(np.abs(p.box - a[0].box).max() > 100 for p in b)  # and holds its own people


def test_frames_of_one_stream_in_one_call_are_tracked_in_order(
    config: DetectorConfig, frames: list[np.ndarray]
) -> None:
    with create_detector(config) as det:
        out = det.detect(frames[3:9], [i / 30 for i in range(3, 9)])
    assert all(len(p) == 1 for p in out)
    assert len({p[0].id for p in out}) == 1


def test_detector_reruns_when_tracking_is_lost_or_a_pose_score_drops(config: DetectorConfig) -> None:
    with create_detector(replace(config, detect_every=10, redetect_score=0.7)) as det:
        assert isinstance(det, BlazePoseDetector)
        rois = {1: np.array([100, 100, 50, 50, 0], np.float32)}
        assert det.needs_detection(StreamState(frames=3, rois={}, weakest=1.0))  # nothing tracked
        assert not det.needs_detection(StreamState(frames=3, rois=rois, weakest=0.95))  # tracking
        assert det.needs_detection(StreamState(frames=3, rois=rois, weakest=0.6))  # score dropped
        assert det.needs_detection(StreamState(frames=10, rois=rois, weakest=0.95))  # every N frames
        assert det.needs_detection(StreamState(frames=3, rois=rois, weakest=0.95, lost=True))  # one lost


def test_a_tracked_persons_larger_detection_is_not_a_second_crop() -> None:
    """On detector frames the SSD's ROI of a tracked person is ~1.5-2x the tracked one (box IoU
    0.2-0.3): it must not become a second crop; someone new beside them must."""
    tracked = {1: np.array([800, 300, 400, 400, 0], np.float32)}
    again = np.array([790, 340, 760, 760, 0.05], np.float32)
    new = np.array([1050, 320, 420, 420, 0], np.float32)
    rois, ids = merge_rois(tracked, np.stack([again, new]), max_persons=4)
    assert ids == [1, None] and np.allclose(rois[1], new)


def test_two_people_crossing_both_keep_their_crops() -> None:
    tracked = {1: np.array([800, 300, 400, 400, 0], np.float32),
               2: np.array([830, 300, 400, 400, 0], np.float32)}
    detected = np.array([[805, 300, 600, 600, 0], [828, 310, 600, 600, 0]], np.float32)
    rois, ids = merge_rois(tracked, detected, max_persons=4)
    assert ids == [1, 2] and np.allclose(rois, np.stack(list(tracked.values())))


@pytest.mark.parametrize(("w", "h", "tiles", "n"),
                         [(1768, 994, "auto", 4), (1768, 994, "off", 1), (1280, 960, "auto", 1),
                          (1280, 960, "on", 3), (994, 1768, "auto", 4), (640, 640, "on", 1)])
def test_detector_views_are_the_whole_frame_then_tiles(w: int, h: int, tiles: str, n: int) -> None:
    views = detector_views(w, h, tiles)
    assert views.shape == (n, 2, 3)
    assert np.allclose(views[0], roi.letterbox(w, h, DETECTOR_SIZE))
    unit = np.array([[0.0, 0], [DETECTOR_SIZE, DETECTOR_SIZE]])
    corners = roi.apply_affine(views[1:], np.broadcast_to(unit, (n - 1, 2, 2)))
    assert np.allclose(corners[:, 1] - corners[:, 0], min(w, h))  # squares of the short side
    assert np.all(corners >= -1e-6) and np.all(corners <= np.array([w, h]) + 1e-6)  # inside the frame


def demo_frames(path: Path, frames: range):
    """Frames of the demo video in `frames`, decoded one at a time (a 1768x994 frame is 5 MB)."""
    cap = cv2.VideoCapture(str(path))
    for i in range(frames.stop):
        ok, f = cap.read()
        assert ok, "demo video shorter than expected"
        if i in frames:
            yield i, f
    cap.release()


def test_tiles_find_both_people_where_the_whole_frame_finds_one(
    detector_models: tuple[Path, Path], demo_video: Path
) -> None:
    """Frames 60-99: the man on the wall (hip above y = 550) and the woman on the lawn are both in
    view. Measured: both found on 39/40 frames with tiles, 0/40 from the letterboxed frame alone."""
    det = PersonDetector(detector_models[0])
    both = {"auto": 0, "off": 0}
    for _, f in demo_frames(demo_video, range(60, 100)):
        for mode in both:
            hips = det.find([f], 4, mode)[0][0][:, 0]
            both[mode] += bool((hips[:, 1] < 550).any() and (hips[:, 1] >= 550).any())
    assert both["auto"] >= 36 and both["off"] <= 10, both


def test_the_jumping_man_is_lost_only_while_he_flips(config: DetectorConfig, demo_video: Path) -> None:
    """Tracking mode (detector every 10 frames) through the man's jump off the wall (~169-184, a
    backflip against the sun the landmark model cannot follow). He used to be missing from 169 to
    201, and the woman was only found from frame 73; now the detector retries while a lost track
    lives and, on tiles, finds him again at ~184 and her at ~40 (the ids change: the flip lasts
    longer than a track survives)."""
    seen: dict[int, list[int]] = {}
    woman = None
    with create_detector(config) as det:
        for i, f in demo_frames(demo_video, range(0, 200)):
            persons = det.detect([f], [i / 30])[0]
            if i == 150:
                woman = max(persons, key=lambda p: float(p.kp2d[:, 1].mean())).id
            for p in persons:
                seen.setdefault(p.id, []).append(i)
    assert woman is not None and min(seen[woman]) <= 50 and max(seen[woman]) >= 195
    man = sorted(i for pid, frames in seen.items() if pid != woman for i in frames)
    assert min(man) <= 5 and max(man) >= 199
    gaps = np.diff([i for i in man if i >= 150])
    assert gaps.max() <= 18, gaps  # frames without him, at most one flip long


# -- BlazePose's own 3D (world landmarks) ---------------------------------------------------------


def test_world_landmarks_turn_with_the_crop_back_into_frame_axes() -> None:
    """Crop rotated by +90 deg: its +x is the frame's +y and its +y the frame's -x; z stays."""
    world = np.array([[[1.0, 0.0, 0.5], [0.0, 2.0, -0.5]]], np.float32)  # (1, 2, 3)
    out = world_to_frame_axes(world, np.array([np.pi / 2]))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[0], [[0.0, 1.0, 0.5], [-2.0, 0.0, -0.5]], atol=1e-6)
    np.testing.assert_allclose(world_to_frame_axes(world, np.zeros(1)), world)


def test_world_maps_to_h36m_like_the_2d_with_the_pelvis_at_zero(rng: np.random.Generator) -> None:
    world = rng.normal(size=(2, 39, 3)).astype(np.float32)
    w17 = world_h36m(world)
    expected, _ = to_h36m(world[:, :33], "blazepose33")
    assert w17.shape == (2, 17, 3) and w17.dtype == np.float32
    np.testing.assert_allclose(w17[:, 0], 0.0, atol=1e-6)
    np.testing.assert_allclose(w17, expected - expected[:, :1], atol=1e-5)


def test_persons_carry_world_3d_in_metres_y_down_pelvis_at_zero(
    config: DetectorConfig, frames: list[np.ndarray]
) -> None:
    persons = [p for ps in run(config, frames[20:30]) for p in ps]
    assert persons
    for p in persons:
        assert p.det3d is not None and p.det3d.shape == (17, 3) and p.det3d.dtype == np.float32
        np.testing.assert_allclose(p.det3d[0], 0.0, atol=1e-6)
        assert p.det3d[10, 1] < p.det3d[8, 1] < p.det3d[0, 1] < p.det3d[2, 1]  # head up, knees down (y down)
        height = p.det3d[:, 1].max() - p.det3d[:, 1].min()
        assert 1.0 < height < 2.2, height  # metres
        assert len(p.to_json()["kp3d_teacher"]) == 17


def test_world_3d_follows_the_camera_when_the_crop_is_rotated(
    config: DetectorConfig, frames: list[np.ndarray]
) -> None:
    """The same frame upright and turned 90 deg clockwise: the person's ROI turns with them, and
    their world pose must come back turned the same way in the frame's axes ((x, y) -> (-y, x)),
    not in the crop's (which would give the upright pose again). Measured: 24-61 mm mean joint
    distance with the turn undone, 0.6-0.7 m without."""
    cfg = replace(config, detect_every=1)
    for i in (10, 30):
        with create_detector(cfg) as det:
            [up] = det.detect([frames[i]], [0.0])[0]
        with create_detector(cfg) as det:
            [turned] = det.detect([cv2.rotate(frames[i], cv2.ROTATE_90_CLOCKWISE)], [0.0])[0]
        a = up.det3d
        expected = np.stack([-a[:, 1], a[:, 0], a[:, 2]], -1)
        assert np.linalg.norm(turned.det3d - expected, axis=1).mean() < 0.12
        assert np.linalg.norm(turned.det3d - a, axis=1).mean() > 0.3
