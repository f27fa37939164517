"""The world stream: each moment's frames from all cameras gathered, fused, made one message (pure).

The fuse stage (`stages/fuse.py`) runs these; all timing comes in as arguments.

- `OfflineGather`: a world frame is the same frame index of every stream. It is complete once every
  stream has sent it, gone past it (a frame its source skipped) or ended; world frames go out in
  order.
- `LiveGather`: a world frame is the frames, one per stream, whose capture times lie within
  `window_s` of the oldest one waiting. It goes out when every stream has one, or, missing some,
  once its first frame has waited `wait_s` here (a camera that stopped does not stop the world
  stream); a frame that arrives after its moment went out is late: counted, not fused.
- `world_poses`: a gathered moment -> the world stream's Poses (`core.fuse.Fuser` on the
  persons' 2D, confidences and lifted 3D).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from camerapose.core.camera import Camera
from camerapose.core.fuse import Fuser, ViewPerson
from camerapose.runtime.protocol import EndOfInput, Poses
from camerapose.runtime.wire import schema

WORLD_STREAM = schema.WORLD  # the stream name (and so the topic, pose.world)


class OfflineGather:
    """Frames of the same index from every stream (module docstring)."""

    def __init__(self, streams: list[str]) -> None:
        self.streams = streams
        self.pending: dict[int, dict[str, Poses]] = {}
        self.seen: dict[str, int] = {}  # stream -> the last frame it sent
        self.ended: set[str] = set()

    def add(self, m: Poses | EndOfInput) -> list[dict[str, Poses]]:
        """One message of a camera stream -> the world frames it completes, in order."""
        if isinstance(m, EndOfInput):
            self.ended.add(m.stream)
        else:
            self.pending.setdefault(m.frame, {})[m.stream] = m
            self.seen[m.stream] = max(self.seen.get(m.stream, -1), m.frame)
        out = []
        for f in sorted(self.pending):
            here = self.pending[f]
            if not all(s in here or self.seen.get(s, -1) > f or s in self.ended for s in self.streams):
                break
            out.append(self.pending.pop(f))
        return out


@dataclass
class LiveGather:
    """Frames whose capture times lie within window_s of each other (module docstring); a moment
    missing a camera waits up to wait_s after its first frame arrived here (the cameras' frames
    reach the fuse stage at different times: each went through detect and lift on its own)."""

    streams: list[str]
    window_s: float
    wait_s: float = 0.1
    keep: int = 30  # frames kept waiting per stream at most

    def __post_init__(self) -> None:
        self.waiting: dict[str, deque[Poses]] = {s: deque(maxlen=self.keep) for s in self.streams}
        self.arrived: dict[int, float] = {}  # id(message) -> when it got here
        self.last_out = -np.inf  # capture time of the last moment sent
        self.late = 0

    def add(self, m: Poses | EndOfInput, now: float) -> list[dict[str, Poses]]:
        """One message (now: monotonic s, as t_capture) -> the moments complete or waited out."""
        if isinstance(m, Poses):
            if m.t_capture <= self.last_out:
                self.late += 1
            else:
                self.waiting[m.stream].append(m)
                self.arrived[id(m)] = now
        return self.flush(now)

    def flush(self, now: float) -> list[dict[str, Poses]]:
        """The moments that can go out at `now`."""
        out = []
        while any(self.waiting.values()):
            first = min((q[0] for q in self.waiting.values() if q), key=lambda m: m.t_capture)
            anchor = first.t_capture
            group = {}
            for s, q in self.waiting.items():
                near = [m for m in q if abs(m.t_capture - anchor) <= self.window_s]
                if near:
                    group[s] = min(near, key=lambda m: abs(m.t_capture - anchor))
            if len(group) < len(self.streams) and now - self.arrived.get(id(first), now) <= self.wait_s:
                break  # wait for the others a little longer
            for s, q in self.waiting.items():
                while q and q[0].t_capture <= (group[s].t_capture if s in group else anchor + self.window_s):
                    self.arrived.pop(id(q.popleft()), None)
            self.last_out = anchor
            out.append(group)
        return out


def view_persons(m: Poses | None) -> list[ViewPerson]:
    """A camera's Poses -> its persons as the fuser takes them (none for a missing frame)."""
    if m is None:
        return []
    def arr(p: dict, key: str, shape: tuple[int, ...]) -> np.ndarray:
        return schema.decode_array(p[key], key, shape)

    return [ViewPerson(int(p["id"]), arr(p, "kp2d", (17, 2)), arr(p, "conf", (17,)), arr(p, "kp3d", (17, 3)),
                       float(p["score"])) for p in m.persons]


def camera_maps(streams: list[str], cameras: list[tuple[str, Camera]]) -> tuple[dict, ...]:
    """The world stream's cameras (`schema.camera_pose`), one per stream in order."""
    return tuple(schema.camera_pose(name, s, (c.fx, c.fy, c.cx, c.cy), c.R, c.t,
                                    (c.width, c.height) if c.width and c.height else None)
                 for s, (name, c) in zip(streams, cameras, strict=True))


def world_poses(fuser: Fuser, streams: list[str], group: dict[str, Poses], cameras: tuple[dict, ...],
                count: int | None = None) -> Poses:
    """One gathered moment -> the world stream's Poses. Offline (count None) its index is the
    cameras' frame index and the fuser smooths on the frame's media time; live its index is
    `count` (moments so far) and the time the earliest frame's capture time."""
    first = min(group.values(), key=lambda m: m.t_capture)
    frame, t = (first.frame, first.t_media) if count is None else (count, first.t_capture)
    people = fuser.fuse([view_persons(group.get(s)) for s in streams], t)
    persons = tuple(schema.world_person(p.id, p.score, p.kp3d, p.views, p.reproj_px, p.single_view,
                                        {streams[v]: tid for v, tid in p.tracks.items()}) for p in people)
    return Poses(WORLD_STREAM, frame, first.t_capture, first.t_wall, (1, 1), {}, 0, persons,
                 t_media=first.t_media if first.fps > 0 else 0.0, prev=frame - 1, fps=first.fps,
                 kind=schema.WORLD, cameras=cameras)
