"""Pose messages grouped into tracks: one track per (stream, person id), its frames in order.

The world stream (`"kind": "world"`, docs/schema.md) gives tracks too, one per world id (stream
"world"), with kp3d in the calibration's world frame and the world persons' own arrays (views,
reprojection, single view, the cameras' track ids) instead of kp2d, conf and camera (`is_world`).

A track keeps only the frames where the person was seen; `fill_gaps` gives the per-frame arrays over
the track's whole frame range that the BVH, TRC and C3D writers need. Those arrays grow with the
range, not with the messages, so a track may miss at most MAX_MISSING_FRAMES frames of its range
(`check_gaps`): frame numbers 0, 1 and 1000000000 are refused, not allocated.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from camerapose.core.errors import InputError
from camerapose.core.skeleton import Joint
from camerapose.runtime.files.messages import media_time, source_fps
from camerapose.runtime.wire.schema import is_world

log = logging.getLogger(__name__)

# The most frames a track's range may hold beyond the frames it was seen in (docs/files.md, "Tracks,
# frames and gaps"): 100000 is 55 minutes at 30 fps. BVH, TRC and C3D hold every frame of the range,
# BVH about 7 kB each while it is solved, so a track stays under about 0.7 GB plus its seen frames.
MAX_MISSING_FRAMES = 100_000

# "RHIP" -> "RHip", "PELVIS" -> "Pelvis": the joint names written into files (markers, BVH joints,
# CSV columns). Sided joints start with their side letter, and no unsided joint starts with L or R.
JOINT_NAMES: tuple[str, ...] = tuple(
    j.name[0] + j.name[1:].title() if j.name[0] in "LR" else j.name.title() for j in Joint
)


@dataclass
class Track:
    """One person of one stream, at the frames where it was seen (T of them, increasing).

    frames (T,) int; t (T,) seconds (t_media, the frame's time in the source; t_capture in messages
    without it); fps: the source's frame rate the messages state (None: they state none); kp3d
    (T, 17, 3) metres, camera frame (x right, y down, z forward); kp2d (T, 17, 2) pixels; conf
    (T, 17); camera (T, 4) fx, fy, cx, cy pixels; messages: the T decoded messages cut down to
    this person alone (what the message writers take).

    A world id's track (`is_world`): kp3d in the calibration's world frame; kp2d, conf and camera
    None; views (T, 17) the views each joint was triangulated from (0: filled from a monocular
    pose), reproj_px (T, 17) pixels, single_view (T,) bool, tracks: per frame {stream: track id}."""

    stream: str
    id: int
    frames: np.ndarray
    t: np.ndarray
    kp3d: np.ndarray
    kp2d: np.ndarray | None
    conf: np.ndarray | None
    camera: np.ndarray | None
    messages: list[dict[str, Any]]
    fps: float | None = None
    views: np.ndarray | None = None
    reproj_px: np.ndarray | None = None
    single_view: np.ndarray | None = None
    tracks: list[dict[str, int]] | None = None

    @property
    def is_world(self) -> bool:
        """A world id's track (of the world stream), not a camera's."""
        return self.views is not None

    @property
    def span(self) -> int:
        """Frames from the first to the last, gaps included."""
        return int(self.frames[-1] - self.frames[0] + 1)


def group_tracks(messages: Iterable[dict[str, Any]], stream: str | None = None) -> list[Track]:
    """Decoded messages -> tracks sorted by (stream, id); only `stream` if given. The world
    stream's messages give world tracks (`Track.is_world`), the cameras' the others.

    A person whose 3D is not finite in a frame is left out of that frame; a frame seen twice for
    the same track (two runs in one file) keeps its first copy. Both are logged."""
    rows: dict[tuple[str, bool, int], dict[int, dict[str, Any]]] = {}  # (stream, world?, id)
    skipped = repeated = 0
    for msg in messages:
        if stream is not None and msg["stream"] != stream:
            continue
        for p in msg["persons"]:
            if not np.isfinite(p["kp3d"]).all():
                skipped += 1
                continue
            track = rows.setdefault((msg["stream"], is_world(msg), p["id"]), {})
            if msg["frame"] in track:
                repeated += 1
                continue
            track[msg["frame"]] = {**msg, "persons": [p]}
    if skipped:
        log.warning("left out %d person-frame(s) whose 3D was not finite", skipped)
    if repeated:
        log.warning("left out %d person-frame(s) whose frame number came twice for the same id", repeated)
    return [_track(s, pid, by_frame) for (s, _, pid), by_frame in sorted(rows.items())]


def _track(stream: str, pid: int, by_frame: dict[int, dict[str, Any]]) -> Track:
    msgs = [by_frame[f] for f in sorted(by_frame)]
    ps = [m["persons"][0] for m in msgs]

    def stack(key: str) -> np.ndarray:
        return np.stack([p[key] for p in ps]).astype(np.float64)

    common = {"stream": stream, "id": pid, "frames": np.array([m["frame"] for m in msgs], np.int64),
              "t": np.array([media_time(m) for m in msgs], np.float64), "kp3d": stack("kp3d"),
              "messages": msgs, "fps": source_fps(msgs)}
    if is_world(msgs[0]):
        return Track(**common, kp2d=None, conf=None, camera=None, views=stack("views"),
                     reproj_px=stack("reproj_px"), single_view=np.array([p["single_view"] for p in ps], bool),
                     tracks=[dict(p["tracks"]) for p in ps])
    camera = np.array([[p["camera"][k] for k in ("fx", "fy", "cx", "cy")] for p in ps], np.float64)
    return Track(**common, kp2d=stack("kp2d"), conf=stack("conf"), camera=camera)


def frame_time(frames: np.ndarray, t: np.ndarray) -> float | None:
    """Seconds per frame from frame numbers (T,) and their times (T,): the median over consecutive
    seen frames of dt / dframe; None when it cannot be told (one frame, or times not increasing)."""
    if len(frames) < 2:
        return None
    dt = np.diff(t) / np.diff(frames)
    value = float(np.median(dt))
    return value if np.isfinite(value) and value > 0 else None


def missing_frames(frames: np.ndarray) -> int:
    """Frames of the range first..last of `frames` (T,) increasing ints that are not in it."""
    return int(frames[-1]) - int(frames[0]) + 1 - len(frames)  # Python ints: no int64 wrap-around


def check_gaps(track: Track) -> None:
    """One InputError line when filling the track's gaps would pass MAX_MISSING_FRAMES."""
    missing = missing_frames(track.frames)
    if missing > MAX_MISSING_FRAMES:
        raise InputError(
            f"stream {track.stream!r} id {track.id}: seen in {len(track.frames)} frames from "
            f"{track.frames[0]} to {track.frames[-1]}, {missing} missing; BVH, TRC and C3D fill at most "
            f"{MAX_MISSING_FRAMES} missing frames per track (docs/files.md); --to csv, jsonl or npz keep "
            "only the frames seen"
        )


def fill_gaps(frames: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Values at the seen frames -> every frame of the range, gaps linearly interpolated.

    frames (T,) increasing ints, values (T, ...) -> (all frames (F,), values (F, ...), seen (F,) bool)
    with F = frames[-1] - frames[0] + 1. ValueError past MAX_MISSING_FRAMES missing frames
    (`check_gaps` says so as one line first)."""
    if missing_frames(frames) > MAX_MISSING_FRAMES:
        raise ValueError(f"{missing_frames(frames)} missing frames to fill, more than {MAX_MISSING_FRAMES}")
    every = np.arange(frames[0], frames[-1] + 1)
    seen = np.isin(every, frames)
    flat = values.reshape(len(frames), -1)
    out = np.stack([np.interp(every, frames, flat[:, k]) for k in range(flat.shape[1])], axis=1)
    return every, out.reshape(len(every), *values.shape[1:]), seen
