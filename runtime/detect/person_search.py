"""The person detector (BlazePose's SSD, whole frame + tiles) on its own thread, off the tracking path.

Tracking a person costs one landmark crop; finding people costs the SSD on every view of the frame
(4 views of a 16:9 frame, about 4x a crop on 2 cores). A frame that waits for that search is the
latency tail. Here the search runs on a worker thread while the detector goes on tracking, and its
result joins the tracker on a later frame, unless someone is missing from this one (nobody
tracked yet, or a tracked person went unseen): then the frame waits, as recall is worth more
than one slow frame:

    search = PersonSearch(cfg, background=True)
    search.start("cam", frame)          # warps the views here (~1 ms), the SSD runs on the worker
    ...                                 # track the next frames meanwhile
    kp = search.take("cam", wait=False)  # (M, 4, 2) alignment keypoints once done, else None

One search per stream at a time; a search waiting for the worker (another stream's is running) is
replaced by the stream's newer frame, so the SSD always looks at the newest frame it can.

In the background the worker runs at the lowest CPU priority, Linux's SCHED_IDLE (nice 10 where
that is refused; the SSD interpreter's own threads are created on the worker and inherit it): the
tracking path and the other stages' processes come first, and the search takes the idle time.
Measured on 2 cores, demo video paced at 30 fps, 4 persons at most: per-frame p95 35 ms against
42-45 ms at nice 10, with the same recall. On a machine with no idle time a search could then
wait for ever, so a live search still running after `detect_every` frames of its stream is
waited for (`step`). With `background=False` the caller waits for every search (`take(wait=True)`
right after `start`), so the worker keeps normal priority.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from camerapose.runtime.detect import roi as roi_mod
from camerapose.runtime.detect.base import DetectorConfig
from camerapose.runtime.detect.person_detector import DETECTOR_SIZE, PersonDetector, detector_views

log = logging.getLogger(__name__)

FALLBACK_NICE = 10  # where SCHED_IDLE is refused: CFS gives nice 10 ~1/10 of a core beside nice 0


@dataclass
class _Job:
    maps: np.ndarray  # (V, 2, 3) crop -> frame maps of the views
    crops: np.ndarray  # (V, 224, 224, 3) uint8 BGR views
    frames: int = 0  # frames of its stream since it was asked for (`step`)
    started: bool = False
    result: np.ndarray | None = None
    error: BaseException | None = None
    done: bool = False


class PersonSearch:
    """BlazePose's person detector on a worker thread; one search per stream at a time."""

    def __init__(self, cfg: DetectorConfig, background: bool = True, load: Callable[[], Any] | None = None
                 ) -> None:
        """load: builds the detector on the worker thread (default BlazePose's `PersonDetector` from
        `cfg`); anything with its `locate(maps, crops, max_persons)` serves."""
        self.cfg = cfg
        self.background = background
        self._load = load or self._person_detector
        self.worker_id: int | None = None  # the worker's native thread id, once it runs
        self._jobs: dict[str, _Job] = {}
        self._found: dict[str, np.ndarray] = {}  # finished searches not joined yet (see `state`)
        self._cond = threading.Condition()
        self._closed = False
        self._load_error: BaseException | None = None
        self._loaded = False
        self._thread = threading.Thread(target=self._work, name="person-search", daemon=True)
        with self._cond:
            self._thread.start()
            self._cond.wait_for(lambda: self._loaded or self._load_error is not None)
        if self._load_error is not None:
            self._thread.join()
            raise self._load_error

    def step(self, stream: str, frame: np.ndarray, due: bool, urgent: bool, live: bool
             ) -> tuple[np.ndarray | None, bool]:
        """One frame of `stream` (BGR (H, W, 3) uint8). -> (alignment keypoints (M, 4, 2) of the
        search that joins the tracker on this frame, or None; whether a search started on it).

        A search started on an earlier frame joins on the stream's next frame (waited for: the
        result does not depend on timing), or live, on the first frame after it is done (waited
        for once `detect_every` frames have gone by: a machine with no idle time left must not
        keep new persons out for ever). A new search starts when `due` and none is running; this
        frame waits for it when it is `urgent` (someone is missing: nobody is tracked, or a
        tracked person went unseen) or when the search is not in the background.
        """
        found = self._found.pop(stream, None)
        if found is None:
            found = self.take(stream, wait=not live or self._overdue(stream))
        started = due and not self.busy(stream)
        if started:
            self.start(stream, frame)
            if not self.background or (urgent and found is None):
                found = self.take(stream, wait=True)
        return found, started

    def _overdue(self, stream: str) -> bool:
        """Counts one more frame for the stream's search: has it been `detect_every` frames?"""
        with self._cond:
            job = self._jobs.get(stream)
            if job is None:
                return False
            job.frames += 1
            return job.frames >= self.cfg.detect_every

    def state(self, stream: str) -> np.ndarray | None:
        """What the stream's next frame will join (waits for a running search): saved with the
        detector's state so that a restarted offline run joins the same result on the same frame."""
        got = self.take(stream, wait=True)
        if got is not None:
            self._found[stream] = got
        return self._found.get(stream)

    def restore(self, stream: str, found: np.ndarray | None) -> None:
        """Go on from a `state` of `stream`."""
        self.forget(stream)
        if found is not None:
            self._found[stream] = np.asarray(found, np.float32)

    def start(self, stream: str, frame: np.ndarray) -> None:
        """Search BGR `frame` (H, W, 3) uint8 for persons: its views are warped now, the SSD runs on
        the worker. Replaces the stream's search if the worker has not begun it yet; a begun one must
        be taken first (`take`)."""
        maps = detector_views(frame.shape[1], frame.shape[0], self.cfg.detector_tiles)
        crops = roi_mod.warp_crops(frame, maps, DETECTOR_SIZE)
        with self._cond:
            old = self._jobs.get(stream)
            if old is not None and old.started:
                raise RuntimeError(f"person search: stream {stream!r} has a search not taken yet")
            self._jobs[stream] = _Job(maps, crops)
            self._cond.notify_all()

    def busy(self, stream: str) -> bool:
        """A search of `stream` is waiting or running."""
        with self._cond:
            job = self._jobs.get(stream)
            return job is not None and not job.done

    def take(self, stream: str, wait: bool) -> np.ndarray | None:
        """The stream's finished search, once: alignment keypoints (M, 4, 2) float32 in frame pixels
        (`PersonDetector.find`). None when it has none, or (wait=False) while it runs; with wait=True
        it blocks until the search is done. A search that failed raises its error here."""
        with self._cond:
            job = self._jobs.get(stream)
            if job is None or (not job.done and not wait):
                return None
            self._cond.wait_for(lambda: job.done)
            del self._jobs[stream]
        if job.error is not None:
            raise job.error
        return job.result

    def forget(self, stream: str) -> None:
        """Drop the stream's search (finished or waiting; a running one finishes unseen)."""
        with self._cond:
            self._jobs.pop(stream, None)
        self._found.pop(stream, None)

    def close(self) -> None:
        """Stop the worker (a running search finishes first) and drop every search."""
        with self._cond:
            self._closed = True
            self._jobs.clear()
            self._cond.notify_all()
        self._found.clear()
        self._thread.join(timeout=5.0)

    # -- the worker thread -------------------------------------------------------------------------
    def _person_detector(self) -> PersonDetector:
        return PersonDetector(self.cfg.tflite(self.cfg.detector_model, "BlazePose detector model"),
                              self.cfg.threads, self.cfg.min_detection_score, self.cfg.nms_iou,
                              self.cfg.detector_onnx, self.cfg.backend_runtime,
                              self.cfg.triton_target(self.cfg.triton_detector_model))

    def _work(self) -> None:
        self.worker_id = threading.get_native_id()
        if self.background:
            _lower_priority()
        try:  # load on this thread: the interpreter's threads inherit its priority
            detector = self._load()
        except BaseException as err:  # handed to the constructor, which raises it
            with self._cond:
                self._load_error = err
                self._cond.notify_all()
            return
        with self._cond:
            self._loaded = True
            self._cond.notify_all()
        try:
            while True:
                with self._cond:
                    self._cond.wait_for(lambda: self._closed or self._next() is not None)
                    if self._closed:
                        return
                    job = self._next()
                    assert job is not None
                    job.started = True
                try:
                    job.result = detector.locate(job.maps, job.crops, self.cfg.max_persons)[0]
                except BaseException as err:  # raised to the caller by take()
                    job.error = err
                with self._cond:
                    job.done = True
                    self._cond.notify_all()
        finally:  # the models are freed on the thread that loaded them (a GPU context is per thread)
            close = getattr(detector, "close", None)
            if close is not None:
                close()

    def _next(self) -> _Job | None:
        """The oldest waiting search (streams in the order they asked)."""
        return next((j for j in self._jobs.values() if not j.started), None)


def _lower_priority() -> None:
    """This thread to SCHED_IDLE (Linux: the policy is per thread), else to nice FALLBACK_NICE,
    else left as it is (a platform with neither)."""
    tid = threading.get_native_id()
    try:
        os.sched_setscheduler(tid, os.SCHED_IDLE, os.sched_param(0))
        return
    except (OSError, AttributeError) as err:
        log.debug("person search: no SCHED_IDLE (%s)", err)
    try:
        os.setpriority(os.PRIO_PROCESS, tid, max(os.getpriority(os.PRIO_PROCESS, tid), FALLBACK_NICE))
    except (OSError, AttributeError) as err:
        log.debug("person search: priority unchanged (%s)", err)
