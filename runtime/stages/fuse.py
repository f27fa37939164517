"""The fuse stage: each camera's poses pass on; each moment of all cameras also becomes one world frame.

Only in a run with `--calibration` (graph.py puts it between lift and publish). Offline, a world
frame is the same frame index of every stream (deterministic); live, the frames whose capture
times fall within `fuse.window_ms` (runtime/world.py).
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from camerapose.core.fuse import Fuser
from camerapose.runtime.config import fuse_cameras
from camerapose.runtime.protocol import ControlKind, EndOfInput
from camerapose.runtime.stages.base import Stage, log
from camerapose.runtime.world import LiveGather, OfflineGather, camera_maps, world_poses


class FuseStage(Stage):
    """Camera Poses in ("lifted") -> the same out ("poses"), plus the world stream's Poses."""

    def run(self) -> None:
        cams = fuse_cameras(self.cfg)
        streams = [s.name for s in self.cfg.sources]
        fuser = Fuser([c for _, c in cams], self.cfg.fuse)
        maps = camera_maps(streams, cams)
        fc = self.cfg.fuse
        gather: Any = OfflineGather(streams) if self.offline else LiveGather(streams, fc.window_ms / 1e3,
                                                                             fc.wait_ms / 1e3)
        count = 0

        def worlds(groups: list[dict[str, Any]]) -> list[Any]:
            """Gathered moments -> world Poses, each with its fuse time."""
            nonlocal count
            out = []
            for g in groups:
                t0 = time.monotonic()
                w = world_poses(fuser, streams, g, maps, None if self.offline else count)
                out.append(replace(w, timings={"fuse": (time.monotonic() - t0) * 1e3}))
                count += 1
            return out

        self.tell(ControlKind.READY)
        while not self.stop:
            self.heartbeat()
            msgs = self.recv_all("lifted")
            now = time.monotonic()
            out: list[Any] = []
            for m in msgs:
                made = worlds(gather.add(m) if self.offline else gather.add(m, now))
                # world frames first: a stream's end must reach publish after the last world frame
                out += made + [m] if isinstance(m, EndOfInput) else [m] + made
            if not msgs and not self.offline:
                out += worlds(gather.flush(now))
            if out:
                self.pass_on("poses", out)
        if not self.offline and gather.late:
            log.info("%d late frames (after their moment went out) were not fused", gather.late)
