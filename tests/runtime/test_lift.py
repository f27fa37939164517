"""The lift stage's math around a real onnxruntime session (the tiny contract-2 model)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from camerapose.core.camera import Camera, project, solve_translation
from camerapose.core.errors import InputError
from camerapose.runtime.lift_engine import LiftConfig, LiftEngine, LiftItem, preprocess


def item(stream: str, pid: int, kp: np.ndarray, size=(1280, 720), t: float = 0.0) -> LiftItem:
    return LiftItem(stream, 0, t, size, pid, kp.astype(np.float32), np.ones(17, np.float32))


def test_preprocess_normalises_each_person_by_its_own_frame_size() -> None:
    kp = np.tile([[640.0, 360.0]], (17, 1))
    feed = preprocess([item("a", 1, kp, (1280, 720)), item("b", 1, kp, (640, 480))])
    assert feed["kp2d"].shape == (2, 17, 2) and feed["kp2d"].dtype == np.float32
    np.testing.assert_allclose(feed["kp2d"][0, 0], [0.0, 0.0], atol=1e-6)  # centre of a 1280x720 frame
    np.testing.assert_allclose(feed["kp2d"][1, 0], [1.0, 2 * 360 / 640 - 480 / 640], atol=1e-6)


def test_one_batched_call_gives_absolute_3d_and_pixel_cameras(tiny_model: Path, rng) -> None:
    # each person's own predicted camera (camera_window=0), as the model outputs it
    lifter = LiftEngine(LiftConfig(model=str(tiny_model), smooth=False, camera_window=0))
    try:
        items = [item("a", i, rng.random((17, 2)) * [1280, 720]) for i in range(3)] + [
            item("b", 1, rng.random((17, 2)) * [640, 480], (640, 480))
        ]
        poses = lifter.lift(items)
    finally:
        lifter.close()
    assert len(poses) == 4
    for it, p in zip(items, poses, strict=True):
        # tiny model: t = (0, 0, 4) m, focal = 1.2 normalised = 1.2 * w / 2 px, centre = image centre
        np.testing.assert_allclose(p.kp3d[0], [0, 0, 4], atol=1e-5)
        assert p.fx == pytest.approx(1.2 * it.size[0] / 2) and p.source == "predicted"
        assert (p.cx, p.cy) == pytest.approx((it.size[0] / 2, it.size[1] / 2))


def test_given_intrinsics_recover_the_true_root_translation(rng) -> None:
    X = rng.normal(0, 0.3, (17, 3))
    X -= X[0]
    t_true = np.array([0.4, -0.2, 3.5])
    cam = Camera(fx=900.0, fy=910.0, cx=640.0, cy=360.0)
    uv = project(cam, X + t_true)
    t = solve_translation(X[None], uv[None], np.ones((1, 17)), np.array([[900.0, 910.0]]),
                          np.array([[640.0, 360.0]]))[0]
    np.testing.assert_allclose(t, t_true, atol=1e-6)


def test_given_intrinsics_are_reported_as_given(tiny_model: Path, rng) -> None:
    lifter = LiftEngine(
        LiftConfig(model=str(tiny_model), smooth=False, intrinsics=(1000.0, 1000.0, 640.0, 360.0))
    )
    try:
        p = lifter.lift([item("a", 1, rng.random((17, 2)) * [400, 600] + [400, 50])])[0]
    finally:
        lifter.close()
    assert p.source == "given" and (p.fx, p.fy, p.cx, p.cy) == (1000.0, 1000.0, 640.0, 360.0)
    assert p.t[2] > 0


def test_smoothing_is_per_track(tiny_model: Path) -> None:
    lifter = LiftEngine(LiftConfig(model=str(tiny_model), smooth=True))
    base = np.tile([[640.0, 360.0]], (17, 1))
    base[5] = [700, 500]
    try:
        lifter.lift([item("a", 1, base, t=0.0), item("a", 2, base, t=0.0)])
        jumped = base.copy()
        jumped[5] += [200, 0]
        a, b = lifter.lift([item("a", 1, jumped, t=0.033), item("a", 2, base, t=0.033)])
    finally:
        lifter.close()
    raw_jump = 2.5 * 200 / 640  # the tiny model's x scale, metres
    assert 0 < a.kp3d[5, 0] - b.kp3d[5, 0] < raw_jump  # track 1 smoothed toward its past, track 2 untouched


def test_bad_intrinsics_and_missing_model_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="intrinsics"):
        LiftConfig(intrinsics=(0.0, 1.0, 2.0, 3.0))
    with pytest.raises(InputError, match="missing"):
        LiftEngine(LiftConfig(model=str(tmp_path / "nope.onnx")))


def test_more_persons_than_the_engine_batch_are_split_not_refused(tiny_model: Path, rng) -> None:
    # no per-track state (smoothing, bone lengths): the second call must see what the first saw
    lifter = LiftEngine(LiftConfig(model=str(tiny_model), smooth=False, bone_window=0, camera_window=0))
    items = [item("a", i, rng.random((17, 2)) * [1280, 720]) for i in range(5)]
    try:
        whole = lifter.lift(items)
        lifter.runner.max_batch = 2  # as a TensorRT engine built for batches 1..2 would say
        split = lifter.lift(items)
    finally:
        lifter.close()
    assert len(split) == 5
    for a, b in zip(whole, split, strict=True):
        np.testing.assert_allclose(a.kp3d, b.kp3d, atol=1e-6)


def test_a_track_keeps_its_bone_lengths_while_the_lift_varies_them():
    from camerapose.core.lift_steps import BoneLengths
    from camerapose.core.skeleton import MEAN_BONE_LENGTHS, bone_lengths, with_bone_lengths

    rng = np.random.default_rng(1)
    base = with_bone_lengths(rng.normal(size=(17, 3)), 1.1 * np.asarray(MEAN_BONE_LENGTHS))  # a tall adult
    keep = BoneLengths(window=30)
    outs, raws = [], []
    for _ in range(200):
        frame = base * rng.uniform(0.85, 1.15)  # a lifter whose scale wobbles by +-15 %
        raws.append(bone_lengths(frame))
        outs.append(bone_lengths(keep(frame)))
    raw_cv = (np.std(raws, 0) / np.mean(raws, 0)).mean()
    out_cv = (np.std(outs[30:], 0) / np.mean(outs[30:], 0)).mean()
    assert raw_cv > 0.07 and out_cv < 0.3 * raw_cv


def test_a_new_track_starts_from_its_first_frames_symmetric_lengths():
    from camerapose.core.lift_steps import BoneLengths
    from camerapose.core.skeleton import SYMMETRIC_BONES, bone_lengths

    rng = np.random.default_rng(2)
    pose = rng.normal(size=(17, 3)) * 0.3
    raw = bone_lengths(pose)
    out = bone_lengths(BoneLengths(window=60)(pose, np.ones(17)))
    left, right = np.array(SYMMETRIC_BONES).T
    np.testing.assert_allclose(out[left], (raw[left] + raw[right]) / 2, rtol=1e-6)  # a body is symmetric
    np.testing.assert_allclose(out[left], out[right], rtol=1e-9)
    # a frame the detector is unsure of moves the lengths less than a sure one
    keep_sure, keep_unsure = BoneLengths(60), BoneLengths(60)
    for keep in (keep_sure, keep_unsure):
        keep(pose, np.ones(17))
    sure = bone_lengths(keep_sure(pose * 1.3, np.ones(17)))
    unsure = bone_lengths(keep_unsure(pose * 1.3, np.full(17, 0.1)))
    first = bone_lengths(BoneLengths(60)(pose, np.ones(17)))
    assert np.all(np.abs(unsure - first) < np.abs(sure - first))


def test_a_stream_reports_one_steady_camera_and_solves_t_with_it(tiny_model: Path, rng) -> None:
    lifter = LiftEngine(LiftConfig(model=str(tiny_model), smooth=False, bone_window=0))
    try:
        poses = [lifter.lift([item("a", i, rng.random((17, 2)) * [400, 600] + [400, 50])])[0]
                 for i in range(5)]
    finally:
        lifter.close()
    fx = {round(p.fx, 3) for p in poses}
    assert len(fx) == 1 and fx.pop() == pytest.approx(1.2 * 1280 / 2)  # the tiny model's camera, steady
    for p in poses:
        assert p.source == "predicted" and p.t[2] > 0.1
        np.testing.assert_allclose(p.kp3d[0], p.t, atol=1e-6)


def test_each_stream_forgets_its_tracks_on_its_own_clock(tiny_model: Path, rng) -> None:
    # offline, each stream's clock is its video's time: a long video must not age a short one's tracks
    lifter = LiftEngine(LiftConfig(model=str(tiny_model), track_timeout_s=2.0))
    kp = rng.random((17, 2)) * [1280, 720]
    try:
        lifter.lift([item("short", 1, kp, t=0.0), item("long", 1, kp, t=0.0)])
        lifter.lift([item("long", 1, kp, t=100.0)])
        assert lifter.steps.tracks.of_stream("short").keys() == {1}  # "short" is still at 0 s
        lifter.lift([item("short", 2, kp, t=2.5)])
        assert lifter.steps.tracks.of_stream("short").keys() == {2}  # now 2.5 s without track 1
    finally:
        lifter.close()


def test_a_streams_saved_state_goes_on_exactly_as_the_lifter_that_saved_it(tiny_model: Path, rng) -> None:
    import pickle

    cfg = LiftConfig(model=str(tiny_model))
    frames = [[item("a", pid, rng.random((17, 2)) * [1280, 720], t=f / 30) for pid in (1, 2)]
              for f in range(8)]
    first, second = LiftEngine(cfg), LiftEngine(cfg)
    try:
        whole = [first.lift(f) for f in frames]
        for f in frames[:4]:
            second.lift(f)
        saved = pickle.dumps(second.stream_state("a"))  # what the lift stage keeps per frame
        second.close()
        second = LiftEngine(cfg)  # the restarted stage
        second.restore_stream("a", pickle.loads(saved))
        rest = [second.lift(f) for f in frames[4:]]
    finally:
        first.close()
        second.close()
    for a, b in zip([p for f in whole[4:] for p in f], [p for f in rest for p in f], strict=True):
        assert np.array_equal(a.kp3d, b.kp3d) and np.array_equal(a.t, b.t) and a.fx == b.fx
