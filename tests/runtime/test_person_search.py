"""The person detector off the tracking path (`runtime/detect/person_search.py`).

The scheduling tests use a gated stand-in for the SSD (its result is the frame's first pixel, so
a test can tell which frame a search looked at, and it finishes only when the test opens the
gate): when a search joins must not depend on timing there. The detector-level tests run the
real models on the demo video.
"""

from __future__ import annotations

import os
import sys
import threading
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from camerapose.runtime.detect.base import DetectorConfig
from camerapose.runtime.detect.person_detector import PersonDetector
from camerapose.runtime.detect.person_search import PersonSearch
from camerapose.runtime.detect.registry import create_detector
from camerapose.runtime.stages import snapshot_codec


class GatedLocator:
    """Finds one 'person' whose keypoints are the first view's top-left pixel value, when let go."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.seen: list[int] = []
        self.fail = False

    def locate(self, maps: np.ndarray, crops: np.ndarray, max_persons: int) -> tuple[np.ndarray, np.ndarray]:
        self.gate.wait(10)
        if self.fail:
            raise RuntimeError("the SSD broke")
        value = int(crops[0, 112, 112, 0])
        self.seen.append(value)
        return np.full((1, 4, 2), value, np.float32), np.ones(1, np.float32)


def frame(value: int) -> np.ndarray:
    return np.full((64, 64, 3), value, np.uint8)


@pytest.fixture
def gated() -> tuple[PersonSearch, GatedLocator]:
    loc = GatedLocator()
    search = PersonSearch(DetectorConfig(detector_tiles="off"), background=True, load=lambda: loc)
    yield search, loc
    loc.gate.set()
    search.close()


def test_offline_a_search_joins_the_streams_next_frame_whatever_its_timing(gated) -> None:
    search, loc = gated
    kp, started = search.step("a", frame(7), due=True, urgent=False, live=False)
    assert kp is None and started  # this frame goes on with its tracked persons
    threading.Timer(0.2, loc.gate.set).start()  # finishes late: the next frame waits for it
    kp, started = search.step("a", frame(8), due=False, urgent=False, live=False)
    assert not started and kp is not None and kp[0, 0, 0] == 7


def test_live_a_search_joins_the_first_frame_after_it_is_done(gated) -> None:
    search, loc = gated
    search.step("a", frame(7), due=True, urgent=False, live=True)
    kp, started = search.step("a", frame(8), due=True, urgent=False, live=True)
    assert kp is None and not started  # still running: no wait, and no second search
    loc.gate.set()
    search.state("a")  # (waits for it, as the next poll would eventually see it)
    kp, _ = search.step("a", frame(9), due=False, urgent=False, live=True)
    assert kp is not None and kp[0, 0, 0] == 7


def test_an_urgent_frame_someone_is_missing_from_waits_for_its_own_search(gated) -> None:
    search, loc = gated
    loc.gate.set()
    kp, started = search.step("a", frame(5), due=True, urgent=True, live=True)
    assert started and kp is not None and kp[0, 0, 0] == 5


def test_in_the_foreground_every_search_is_waited_for() -> None:
    loc = GatedLocator()
    loc.gate.set()
    search = PersonSearch(DetectorConfig(detector_tiles="off"), background=False, load=lambda: loc)
    try:
        kp, started = search.step("a", frame(3), due=True, urgent=False, live=True)
        assert started and kp is not None and kp[0, 0, 0] == 3
    finally:
        search.close()


def test_a_waiting_search_is_replaced_by_its_streams_newer_frame(gated) -> None:
    search, loc = gated
    search.start("a", frame(1))  # the worker takes this one and waits at the gate
    while not search._jobs["a"].started:  # until the worker has taken it
        threading.Event().wait(0.01)
    search.start("b", frame(2))
    search.start("b", frame(3))  # "b" has not begun: it now searches the newer frame
    loc.gate.set()
    assert search.take("a", wait=True)[0, 0, 0] == 1
    assert search.take("b", wait=True)[0, 0, 0] == 3
    assert loc.seen == [1, 3]


def test_a_search_that_failed_raises_where_it_is_taken(gated) -> None:
    search, loc = gated
    loc.fail = True
    search.start("a", frame(1))
    loc.gate.set()
    with pytest.raises(RuntimeError, match="the SSD broke"):
        search.take("a", wait=True)
    assert not search.busy("a")


def test_a_saved_state_holds_the_running_search_and_a_restored_one_joins_it(gated) -> None:
    search, loc = gated
    search.step("a", frame(9), due=True, urgent=False, live=False)
    loc.gate.set()
    saved = snapshot_codec.loads(snapshot_codec.dumps(search.state("a")))
    other = PersonSearch(DetectorConfig(detector_tiles="off"), background=True, load=GatedLocator)
    try:
        other.restore("a", saved)
        kp, _ = other.step("a", frame(10), due=False, urgent=False, live=False)
        assert kp is not None and kp[0, 0, 0] == 9
    finally:
        other.close()


def test_a_model_that_does_not_load_is_raised_by_the_constructor(tmp_path: Path) -> None:
    from camerapose.core.errors import AssetError

    with pytest.raises(AssetError, match="assets fetch"):
        PersonSearch(DetectorConfig(detector_model=str(tmp_path / "missing.tflite")))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread scheduling policy is Linux's")
def test_the_background_worker_runs_only_in_idle_time(gated) -> None:
    search, _ = gated
    assert os.sched_getscheduler(search.worker_id) == os.SCHED_IDLE
    assert os.sched_getscheduler(threading.get_native_id()) != os.SCHED_IDLE


def test_live_a_search_still_running_after_detect_every_frames_is_waited_for() -> None:
    loc = GatedLocator()
    search = PersonSearch(DetectorConfig(detector_tiles="off", detect_every=3), load=lambda: loc)
    try:
        search.step("a", frame(4), due=True, urgent=False, live=True)
        for value in (5, 6):  # frames 1 and 2 after the start: not waited for
            assert search.step("a", frame(value), due=True, urgent=False, live=True) == (None, False)
        threading.Timer(0.2, loc.gate.set).start()
        kp, started = search.step("a", frame(7), due=True, urgent=False, live=True)  # the 3rd: waits
        assert kp is not None and kp[0, 0, 0] == 4 and started  # and the next search begins
    finally:
        loc.gate.set()
        search.close()


# -- the real models ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def clip(demo_video: Path) -> list[np.ndarray]:
    """Frames 20-59 of the demo (the second person walks in at about frame 36)."""
    cap = cv2.VideoCapture(str(demo_video))
    out = [cap.read()[1] for _ in range(60)][20:]
    cap.release()
    return out


@pytest.fixture(scope="module")
def config(detector_models: tuple[Path, Path]) -> DetectorConfig:
    det, lm = detector_models
    return DetectorConfig(detector_model=str(det), landmark_model=str(lm), detect_every=5)


def ids_and_keypoints(cfg: DetectorConfig, frames: list[np.ndarray], restart_at: int | None = None) -> list:
    """Per frame: [(id, keypoints)]; with restart_at, a fresh detector goes on from the state the
    first one saved after frame restart_at - 1 (as a restarted offline detect stage does)."""
    out = []
    det = create_detector(cfg)
    for i, f in enumerate(frames):
        if i == restart_at:
            saved = snapshot_codec.loads(snapshot_codec.dumps(det.stream_state("0")))
            det.close()
            det = create_detector(cfg)
            det.restore_stream("0", saved)
        out.append([(p.id, p.kp2d) for p in det.detect([f], [i / 30])[0]])
    det.close()
    return out


@pytest.mark.slow
def test_offline_async_runs_repeat_exactly_and_resume_from_a_saved_state(
    config: DetectorConfig, clip: list[np.ndarray]
) -> None:
    first = ids_and_keypoints(config, clip)
    again = ids_and_keypoints(config, clip)
    resumed = ids_and_keypoints(config, clip, restart_at=17)
    for a, b, c in zip(first, again, resumed, strict=True):
        assert [i for i, _ in a] == [i for i, _ in b] == [i for i, _ in c]
        for (_, ka), (_, kb), (_, kc) in zip(a, b, c, strict=True):
            assert np.array_equal(ka, kb) and np.array_equal(ka, kc)
    assert max(len(p) for p in first) == 2  # the second person was found on the way


@pytest.mark.slow
def test_async_and_sync_search_find_the_same_people(config: DetectorConfig, clip: list[np.ndarray]) -> None:
    run_async = ids_and_keypoints(config, clip)
    run_sync = ids_and_keypoints(replace(config, person_search="sync"), clip)
    found_async = [len(p) for p in run_async]
    found_sync = [len(p) for p in run_sync]
    # The second person joins at most a frame later (the search result joins the next frame).
    assert found_async[0] == found_sync[0] == 1
    assert sum(found_async) >= sum(found_sync) - 1
    assert found_async[-10:] == found_sync[-10:] == [2] * 10


@pytest.mark.slow
def test_the_real_ssd_on_the_worker_finds_what_it_finds_in_the_foreground(
    config: DetectorConfig, clip: list[np.ndarray], detector_models: tuple[Path, Path]
) -> None:
    search = PersonSearch(config)
    try:
        search.start("a", clip[-1])
        kp = search.take("a", wait=True)
    finally:
        search.close()
    ssd = PersonDetector(detector_models[0])
    direct = ssd.find([clip[-1]], config.max_persons, config.detector_tiles)[0][0]
    assert kp.shape == direct.shape and kp.shape[0] == 2
    np.testing.assert_array_equal(kp, direct)
