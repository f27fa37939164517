"""The lift stage: every person of every frame waiting -> ONE batched pose-model call -> Poses
(offline: one call per frame, see LiftStage)."""

from __future__ import annotations

import time

from camerapose.runtime.config import calibrated_intrinsics
from camerapose.runtime.lift_engine import LiftEngine
from camerapose.runtime.protocol import (
    ControlKind,
    EndOfInput,
)
from camerapose.runtime.stages.base import (
    OfflineState,
    RingReader,
    Stage,
)
from camerapose.runtime.ticks import lift_items, pose_messages


class LiftStage(Stage):
    """All persons of all frames waiting this tick -> ONE batched pose-model call -> Poses.

    Offline, each frame gets its own call instead (an engine's result for a person can change in
    the last bits with the batch it is in, and offline runs must repeat exactly), and the lifter's
    state of its stream is saved once it is done, so that a restarted run goes on from the last
    published frame as if it had never stopped."""

    def run(self) -> None:
        lifter = LiftEngine(self.cfg.lift, calibrated_intrinsics(self.cfg))
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
                self.pass_on(self.spec.outputs[0], tick.out)  # "poses", or "lifted" when a fuse stage follows
        finally:
            lifter.close()
            rings.close()
