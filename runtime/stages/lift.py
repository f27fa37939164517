"""The lift stage: every person of every frame waiting -> ONE batched pose-model call -> Poses
(offline: one call per frame, see LiftStage)."""

from __future__ import annotations

import time
from typing import Any

from camerapose.core.lift_steps import LiftItem, Pose3D
from camerapose.runtime.lift_engine import LiftEngine
from camerapose.runtime.protocol import (
    BATCH,
    INFER,
    ControlKind,
    Count,
    DetectedPerson,
    Detections,
    EndOfInput,
    Poses,
    Timing,
)
from camerapose.runtime.stages.base import (
    OfflineState,
    RingReader,
    Stage,
    Tick,
    clock,
    elapsed_ms,
)
from camerapose.runtime.wire import schema


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
                              t_media=m.t_media, prev=m.prev))
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


class LiftStage(Stage):
    """All persons of all frames waiting this tick -> ONE batched pose-model call -> Poses.

    Offline, each frame gets its own call instead (an engine's result for a person can change in
    the last bits with the batch it is in, and offline runs must repeat exactly), and the lifter's
    state of its stream is saved once it is done, so that a restarted run goes on from the last
    published frame as if it had never stopped."""

    def run(self) -> None:
        lifter = LiftEngine(self.cfg.lift)
        rings = RingReader(self.run_id)
        saved = OfflineState(self.run_dir, "lift", rings, lifter) if self.offline else None
        self.tell(ControlKind.READY, backend=lifter.runner.backend)
        try:
            while not self.stop:
                self.heartbeat()
                msgs = self.recv_all("persons")
                if not msgs:
                    continue
                t0 = time.monotonic()
                if saved is None:
                    poses, infer_ms = lifter.lift(lift_items(msgs)), lifter.last_infer_ms
                else:
                    poses, infer_ms = [], 0.0
                    for m in msgs:
                        if isinstance(m, EndOfInput):
                            continue
                        saved.begin(m.stream)
                        items = lift_items([m], offline=True)
                        poses += lifter.lift(items)
                        infer_ms += lifter.last_infer_ms if items else 0.0
                        saved.done(m.stream, m.frame)
                tick = pose_messages(msgs, poses, t0, time.monotonic(), infer_ms, self.cfg.publish.teacher_3d)
                self.record(tick)
                self.pass_on("poses", tick.out)
        finally:
            lifter.close()
            rings.close()
