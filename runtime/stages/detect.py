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
    DetectedPerson,
    Detections,
    EndOfInput,
    FrameNotice,
    Timing,
)
from camerapose.runtime.stages.base import (
    POLL_MS,
    OfflineState,
    RingReader,
    Stage,
    Tick,
    clock,
    elapsed_ms,
    log,
)


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
    notices: list[FrameNotice],
    persons: list[list[Any] | None],
    t0: float,
    t1: float,
    dropped: int,
    keep_3d: bool,
    skipped: dict[str, int] | None = None,
) -> Tick:
    """The detector's result for one batch -> one Detections per frame (t_sent stamped when sent).

    persons: per frame, the Person2D list (detector.detect's result; sent sorted by id), or None
    where the detector refused the frame: it gets no Detections and is counted corrupt, and the
    next frame of its stream carries the refused frame's `prev` on (a frame skipped on purpose, not
    a lost one); `skipped`: stream -> that `prev` while it waits for the next frame (updated here).
    t0, t1: monotonic s around the detector; dropped: the stage's drops so far; keep_3d: keep the
    detector's own 3D (`config.keeps_detector_3d`: the lift stage fuses it, or it is published)."""
    skipped = {} if skipped is None else skipped
    tick = Tick()
    for m, people in zip(notices, persons, strict=True):
        if people is None:
            skipped.setdefault(m.stream, m.prev)
            tick.counts[Count.CORRUPT] += 1
            continue
        waited = elapsed_ms(m.t_sent, t0)
        timings = {Timing.CAPTURE: m.read_ms, Timing.WAIT_DETECT: waited, Timing.DETECT: elapsed_ms(t0, t1)}
        found = tuple(
            DetectedPerson(p.id, p.score, p.box, p.kp2d, p.conf, p.det3d if keep_3d else None)
            for p in sorted(people, key=lambda p: p.id)
        )
        tick.out.append(Detections(m.stream, m.frame, m.t_capture, m.t_wall, m.size, timings, dropped, found,
                                   t_media=m.t_media, prev=skipped.pop(m.stream, m.prev)))
        tick.counts[Count.FRAMES] += 1
        tick.counts[Count.PERSONS] += len(people)
        tick.samples[Timing.DETECT].append(elapsed_ms(t0, t1) / len(notices))
    return tick


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

