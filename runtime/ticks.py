"""The stages' pure per-frame functions: what one tick of capture, detect, lift and publish does to
its messages, without sockets, processes or shared memory. The stage processes (`runtime/stages/`)
loop around them; `camerapose.estimate` (`runtime/inprocess.py`) calls the same ones in the
caller's process, so it imports no ZeroMQ.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from camerapose.core.lift_steps import LiftItem, Pose3D
from camerapose.runtime.protocol import (
    BATCH,
    INFER,
    Count,
    DetectedPerson,
    Detections,
    EndOfInput,
    FrameNotice,
    Poses,
    Published,
    Timing,
)
from camerapose.runtime.wire import schema


def elapsed_ms(a: float, b: float) -> float:
    return round((b - a) * 1e3, 3)


def clock(msg: Any, offline: bool) -> float:
    """The time (s) filters and timeouts see for a frame message: its time in the video in offline
    mode (`t_media`: a run gives the same result however fast it ran), else when it was captured."""
    return msg.t_media if offline else msg.t_capture


@dataclass
class Tick:
    """What one step of a stage produced: messages to send (in order) and what to count."""

    out: list[Any] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # increments
    samples: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))


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
                                   t_media=m.t_media, prev=skipped.pop(m.stream, m.prev), fps=m.fps))
        tick.counts[Count.FRAMES] += 1
        tick.counts[Count.PERSONS] += len(people)
        tick.samples[Timing.DETECT].append(elapsed_ms(t0, t1) / len(notices))
    return tick


def lift_items(msgs: list[Detections | EndOfInput], offline: bool = False) -> list[LiftItem]:
    """Every person of every frame of one lift tick, in order: the lifter's one batch; each on its
    frame's time in the video offline, else on its capture time (`clock`)."""
    return [
        LiftItem(m.stream, m.frame, clock(m, offline), m.size, p.id, p.kp2d, p.conf, p.det3d)
        for m in msgs
        if isinstance(m, Detections)
        for p in m.persons
    ]


def pose_messages(
    msgs: list[Detections | EndOfInput], poses: list[Pose3D], t0: float, t1: float, infer_ms: float,
    teacher_3d: bool = False,
) -> Tick:
    """The lifter's poses (one per `lift_items(msgs)` item) -> one Poses per frame, ends passed on.

    t0, t1: monotonic s around the tick's lift; infer_ms: the pose model's share of it; teacher_3d:
    also publish each person's detector 3D (`kp3d_teacher`)."""
    if len(poses) != sum(len(m.persons) for m in msgs if isinstance(m, Detections)):
        raise ValueError(f"{len(poses)} poses for the persons of {len(msgs)} messages")
    tick = Tick()
    left = iter(poses)
    for m in msgs:
        if isinstance(m, EndOfInput):
            tick.out.append(m)
            continue
        persons = tuple(_wire_person(p, next(left), teacher_3d) for p in m.persons)
        timings = {**m.timings, Timing.WAIT_LIFT: elapsed_ms(m.t_sent, t0), Timing.LIFT: elapsed_ms(t0, t1)}
        tick.out.append(Poses(m.stream, m.frame, m.t_capture, m.t_wall, m.size, timings, m.dropped, persons,
                              t_media=m.t_media, prev=m.prev, fps=m.fps))
        tick.counts[Count.FRAMES] += 1
    if poses:
        tick.samples[INFER].append(round(infer_ms, 3))
        tick.samples[BATCH].append(len(poses))
    return tick


def _wire_person(p: DetectedPerson, pose: Pose3D, teacher_3d: bool) -> dict[str, Any]:
    """A detected person and its lifted pose -> its map in the public message."""
    cam = (pose.fx, pose.fy, pose.cx, pose.cy, pose.t, pose.source)
    return schema.person(p.id, p.score, p.box, p.kp2d, p.conf, pose.kp3d, *cam,
                         teacher=p.det3d if teacher_3d else None)


def publish_one(m: Poses, now: float) -> Tick:
    """One frame's Poses, published at `now` (monotonic s) -> Tick with its Published payload.

    Adds the last two timings (wait_publish, total = glass-to-publish) and samples every timing:
    the supervisor's latency figures come from here."""
    timings = {
        **m.timings,
        Timing.WAIT_PUBLISH: elapsed_ms(m.t_sent, now),
        Timing.TOTAL: elapsed_ms(m.t_capture, now),
    }
    tick = Tick([Published(schema.pack(m.wire(now, timings)))])
    tick.counts[Count.FRAMES] += 1
    tick.counts[Count.PERSONS] += len(m.persons)
    for k, v in timings.items():
        tick.samples[k].append(v)
    return tick


def in_order(last: int, msg: Poses | EndOfInput) -> tuple[bool, tuple[int, int] | None]:
    """Offline: what to do with a stream's next message, `last` being its last published frame ->
    (publish it, the frames lost before it as (first, last) or None).

    A frame at or before `last` was published already: never again. A frame (or the end) whose
    stream's previous frame, as the capture sent it, comes after `last` means that frames
    last+1..that one were sent but never got here: lost (the frames between a message's `prev`
    and its own index are ones the source or the detector skipped as unreadable, not lost)."""
    before = msg.last if isinstance(msg, EndOfInput) else msg.prev
    if isinstance(msg, Poses) and msg.frame <= last:
        return False, None
    return isinstance(msg, Poses), ((last + 1, before) if before > last else None)
