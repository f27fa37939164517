"""The detect stage: FrameNotices -> the frames from the rings -> the detector -> Detections."""

from __future__ import annotations

import time
from typing import Any

from camerapose.core.errors import CameraPoseError
from camerapose.runtime.config import keeps_detector_3d
from camerapose.runtime.frame_ring import FrameRing
from camerapose.runtime.protocol import (
    ControlKind,
    Count,
    EndOfInput,
    FrameNotice,
)
from camerapose.runtime.stages.base import (
    POLL_MS,
    OfflineState,
    RingReader,
    Stage,
    log,
)
from camerapose.runtime.ticks import clock, detections, take_batch


class DetectStage(Stage):
    """Newest frame per stream (live) or every frame in order (offline) -> 2D persons.

    Live, one detector call takes the frames of every stream at once. Offline, each frame gets its
    own call (a model's result for a crop can change in the last bits with the batch it is in, and
    offline runs must repeat exactly), on its time in the video, and the detector's state of its
    stream is saved once it is done, so that a restarted run goes on from the last published frame
    as if it had never stopped."""

    def run(self) -> None:
        from camerapose.runtime.detect.registry import create_detector

        detector = create_detector(self.cfg.detector)
        rings = RingReader(self.run_id)
        saved = OfflineState(self.run_dir, "detect", rings, detector) if self.offline else None
        skipped: dict[str, int] = {}
        pending: list[FrameNotice | EndOfInput] = []
        self.tell(ControlKind.READY)
        try:
            while not self.stop:
                self.heartbeat()
                pending += self.recv_all("frames", 0 if pending else POLL_MS)
                if not pending:
                    continue
                batch, pending, dropped = take_batch(pending, self.offline)
                self.counters[Count.DROPPED] += dropped
                frames, notices, held = self._read(rings, batch)
                if saved is not None:
                    for m in notices:
                        saved.begin(m.stream)
                t0 = time.monotonic()
                results = self._detect(detector, frames, notices)
                t1 = time.monotonic()
                notices, results = self._intact(held, notices, results)
                tick = detections(notices, results, t0, t1, self.counters[Count.DROPPED],
                                  keeps_detector_3d(self.cfg), skipped)
                self.record(tick)
                if saved is not None:
                    for m in tick.out:
                        saved.done(m.stream, m.frame)
                self.pass_on("persons", [*tick.out, *(m for m in batch if isinstance(m, EndOfInput))])
        finally:
            detector.close()
            rings.close()

    def _read(self, rings: RingReader, batch: list[Any]
              ) -> tuple[list[Any], list[FrameNotice], list[FrameRing]]:
        """The batch's frames, pinned and in place in their rings (`FrameRing.pin`, `view`), their
        notices and rings (a frame already overwritten is counted dropped and left out)."""
        frames, notices, held = [], [], []
        for m in batch:
            if isinstance(m, EndOfInput):
                continue
            ring = rings.ring(m.stream, m.gen)
            img = None
            if ring is not None:
                ring.pin(m.frame)
                img = ring.view(m.frame)
            if img is None:
                if ring is not None:
                    ring.pin(-1)
                self.counters[Count.DROPPED] += 1  # overwritten in the ring before we got to it
                continue
            frames.append(img)
            notices.append(m)
            held.append(ring)
        return frames, notices, held

    def _intact(self, held: list[FrameRing], notices: list[FrameNotice], results: list[Any]
                ) -> tuple[list[FrameNotice], list[Any]]:
        """The frames the capture did not overwrite while the detector read them in place (all are
        unpinned); the others are counted dropped (live only: offline, a slot is reused only once
        released). held: each notice's ring, from `_read`."""
        keep = [i for i, (ring, m) in enumerate(zip(held, notices, strict=True)) if ring.holds(m.frame)]
        for ring in held:
            ring.pin(-1)
        self.counters[Count.DROPPED] += len(notices) - len(keep)
        return [notices[i] for i in keep], [results[i] for i in keep]

    def _detect(self, detector: Any, frames: list[Any], notices: list[FrameNotice]) -> list[list[Any] | None]:
        """Persons per frame (None: refused). Live: one call for all; offline: one call per frame."""
        groups = [[i] for i in range(len(frames))] if self.offline else [list(range(len(frames)))]
        results: list[list[Any] | None] = [None] * len(frames)
        for group in groups:
            if not group:
                continue
            try:
                found = detector.detect([frames[i] for i in group],
                                        [clock(notices[i], self.offline) for i in group],
                                        [notices[i].stream for i in group], live=not self.offline)
            except CameraPoseError as err:  # a frame the detector refuses: skip it, count it
                log.warning("detect: frames skipped (%s)", err)
                continue
            for i, people in zip(group, found, strict=True):
                results[i] = people
        return results

