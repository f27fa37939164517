"""The detect stage: FrameNotices -> the frames from the rings -> one batched detector call -> Detections."""

from __future__ import annotations

import time
from typing import Any

from camerapose.core.errors import CameraPoseError
from camerapose.runtime import graph
from camerapose.runtime.protocol import (
    ControlKind,
    Count,
    DetectedPerson,
    Detections,
    EndOfInput,
    FrameNotice,
    Timing,
)
from camerapose.runtime.stages.base import POLL_MS, RingReader, Stage, Tick, elapsed_ms, log


def take_batch(
    pending: list[FrameNotice | EndOfInput], offline: bool
) -> tuple[list[FrameNotice | EndOfInput], list[FrameNotice | EndOfInput], int]:
    """One detect tick's share of the waiting notices -> (batch, still waiting, frames dropped).

    Live: the newest frame of each stream (the older ones are dropped and counted), then every end
    of input; nothing keeps waiting. Offline: the first notice of each stream, in order; the rest
    wait for the next ticks, none dropped."""
    if not offline:
        newest: dict[str, FrameNotice] = {}
        ends, dropped = [], 0
        for m in pending:
            if isinstance(m, EndOfInput):
                ends.append(m)
                continue
            dropped += m.stream in newest  # a newer frame of that stream is waiting
            newest[m.stream] = m
        return [*newest.values(), *ends], [], dropped
    seen: set[str] = set()
    batch, rest = [], []
    for m in pending:
        (rest if m.stream in seen else batch).append(m)
        seen.add(m.stream)
    return batch, rest, 0


def detections(
    notices: list[FrameNotice], persons: list[list[Any]], t0: float, t1: float, dropped: int, teacher_3d: bool
) -> Tick:
    """The detector's result for one batch -> one Detections per frame (t_sent stamped when sent).

    persons: the Person2D lists of each frame (detector.detect's result); t0, t1: monotonic s around
    that call; dropped: the stage's drops so far; teacher_3d: keep the detector's own 3D."""
    tick = Tick()
    for m, people in zip(notices, persons, strict=True):
        waited = elapsed_ms(m.t_sent, t0)
        timings = {Timing.CAPTURE: m.read_ms, Timing.WAIT_DETECT: waited, Timing.DETECT: elapsed_ms(t0, t1)}
        found = tuple(
            DetectedPerson(p.id, p.score, p.box, p.keypoints, p.confidence, p.world if teacher_3d else None)
            for p in people
        )
        tick.out.append(Detections(m.stream, m.frame, m.t_capture, m.t_wall, m.size, timings, dropped, found))
        tick.counts[Count.FRAMES] += 1
        tick.counts[Count.PERSONS] += len(people)
        tick.samples[Timing.DETECT].append(elapsed_ms(t0, t1) / len(notices))
    return tick


class DetectStage(Stage):
    """Newest frame per stream (live) or every frame in order (offline) -> 2D persons, batched."""

    def run(self) -> None:
        from camerapose.runtime.detect.registry import create_detector

        detector = create_detector(self.cfg.detector)
        rings = RingReader(self.run_id)
        releases = graph.last_frame_reader(self.cfg) == "detect"
        if releases:
            rings.release_all([src.name for src in self.cfg.sources])
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
                self._process(detector, rings, batch, releases)
        finally:
            detector.close()
            rings.close()

    def _process(self, detector: Any, rings: RingReader, batch: list[Any], releases: bool) -> None:
        frames, notices = [], []
        for m in batch:
            if isinstance(m, EndOfInput):
                continue
            ring = rings.ring(m.stream, m.gen)
            img = ring.read(m.frame) if ring is not None else None
            if img is None:
                self.counters[Count.DROPPED] += 1  # overwritten in the ring before we got to it
                continue
            frames.append(img)
            notices.append(m)
            if releases:
                ring.release(m.frame)
        t0 = time.monotonic()
        results: list[list[Any]] = []
        if frames:
            try:
                results = detector.detect(frames, [m.t_capture for m in notices], [m.stream for m in notices])
            except CameraPoseError as err:  # a frame the detector refuses: skip it, count it
                log.warning("detect: frames skipped (%s)", err)
                self.counters[Count.CORRUPT] += len(frames)
                results, notices = [], []
        t1 = time.monotonic()
        tick = detections(notices, results, t0, t1, self.counters[Count.DROPPED], self.cfg.publish.teacher_3d)
        self.record(tick)
        self.pass_on("persons", [*tick.out, *(m for m in batch if isinstance(m, EndOfInput))])
