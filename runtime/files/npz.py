"""NumPy .npz: the rows of every message written, as arrays, saved when the writer closes (so the
rows are held in memory until then: about 0.5 kB per person per frame).

Arrays (N rows = persons over all messages of camera streams): stream (N,) str, frame (N,) int64,
t (N,) float64 (seconds: t_media, the frame's time in the source; t_capture for messages without
it), id (N,) int64, score (N,), kp3d (N, 17, 3) metres in the file's axes, kp2d (N, 17, 2) pixels,
conf (N, 17), camera (N, 4) fx, fy, cx, cy pixels; joint_names (17,) and axes () str.

With messages of the world stream (`"kind": "world"`), also `world_*` arrays (M rows = world persons;
docs/files.md): world_frame (M,), world_t (M,), world_id (M,), world_score (M,), world_kp3d
(M, 17, 3) metres in the calibration's world frame, world_views (M, 17), world_reproj_px (M, 17),
world_single_view (M,) bool, world_tracks (M, C) int64 (the person's track id in each of C camera
streams, -1 where none; the streams are world_tracks_streams (C,)), and the cameras of the first world
message: world_camera_name, world_camera_stream (K,) str, world_camera_K (K, 4) fx, fy, cx, cy,
world_camera_R (K, 3, 3), world_camera_t (K, 3) (x_cam = R x_world + t), world_camera_size (K, 2)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import numpy as np

from camerapose.core.errors import InputError, write_failed
from camerapose.core.skeleton import NUM_JOINTS
from camerapose.runtime.files.messages import media_time
from camerapose.runtime.files.tracks import JOINT_NAMES
from camerapose.runtime.files.writers import MessageWriter
from camerapose.runtime.wire.schema import is_world

WORLD_KEYS = ("frame", "t", "id", "score", "kp3d", "views", "reproj_px", "single_view", "tracks")


class NpzWriter(MessageWriter):
    suffix = ".npz"

    def __init__(self, path: str | Path, axes: str = "camera") -> None:
        super().__init__(path, axes)
        if not self.path.parent.is_dir():
            raise InputError(f"{self.path}: folder {self.path.parent} does not exist")
        keys = ("stream", "frame", "t", "id", "score", "kp3d", "kp2d", "conf", "camera")
        self.columns: dict[str, list] = {k: [] for k in keys}
        self.world: dict[str, list] = {k: [] for k in WORLD_KEYS}
        self.cameras: list[dict[str, Any]] | None = None  # the first world message's
        self.closed = False

    def write(self, msg: dict[str, Any]) -> None:
        if not is_world(msg):
            super().write(msg)
            return
        if self.cameras is None:
            self.cameras = list(msg["cameras"])
        for p in msg["persons"]:
            for key, value in (("frame", msg["frame"]), ("t", media_time(msg)), ("id", p["id"]),
                               ("score", p["score"]), ("kp3d", p["kp3d"]), ("views", p["views"]),
                               ("reproj_px", p["reproj_px"]), ("single_view", p["single_view"]),
                               ("tracks", dict(p["tracks"]))):
                self.world[key].append(value)
            self.rows += 1

    def write_person(self, msg: dict[str, Any], p: dict[str, Any]) -> None:
        cam = p["camera"]
        for key, value in (("stream", msg["stream"]), ("frame", msg["frame"]), ("t", media_time(msg)),
                           ("id", p["id"]), ("score", p["score"]), ("kp3d", p["kp3d"]), ("kp2d", p["kp2d"]),
                           ("conf", p["conf"]), ("camera", [cam[k] for k in ("fx", "fy", "cx", "cy")])):
            self.columns[key].append(value)

    def _world_arrays(self) -> dict[str, np.ndarray]:
        """The world_* arrays (module docstring); none when no world message was written."""
        if self.cameras is None:
            return {}
        w, cams = self.world, self.cameras

        def arr(key: str, dtype: type, shape: tuple[int, ...]) -> np.ndarray:
            return np.array(w[key], dtype).reshape(len(w[key]), *shape)

        streams = [c["stream"] for c in cams]
        streams += sorted({s for t in w["tracks"] for s in t} - set(streams))
        tracks = np.array([[t.get(s, -1) for s in streams] for t in w["tracks"]], np.int64)
        return {
            "world_frame": arr("frame", np.int64, ()),
            "world_t": arr("t", np.float64, ()),
            "world_id": arr("id", np.int64, ()),
            "world_score": arr("score", np.float32, ()),
            "world_kp3d": arr("kp3d", np.float32, (NUM_JOINTS, 3)),
            "world_views": arr("views", np.float32, (NUM_JOINTS,)),
            "world_reproj_px": arr("reproj_px", np.float32, (NUM_JOINTS,)),
            "world_single_view": arr("single_view", bool, ()),
            "world_tracks": tracks.reshape(len(w["tracks"]), len(streams)),
            "world_tracks_streams": np.array(streams, str),
            "world_camera_name": np.array([c["name"] for c in cams], str),
            "world_camera_stream": np.array([c["stream"] for c in cams], str),
            "world_camera_K": np.array([c["K"] for c in cams], np.float32).reshape(len(cams), 4),
            "world_camera_R": np.array([c["R"] for c in cams], np.float32).reshape(len(cams), 3, 3),
            "world_camera_t": np.array([c["t"] for c in cams], np.float32).reshape(len(cams), 3),
            "world_camera_size": np.array([list(c["size"]) for c in cams], np.int64).reshape(len(cams), 2),
        }

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        c = self.columns

        def arr(key: str, dtype: type, shape: tuple[int, ...]) -> np.ndarray:
            return np.array(c[key], dtype).reshape(len(c[key]), *shape)

        try:
            with open(self.path, "wb") as f:  # a file object: np.savez would add ".npz" to a str path
                np.savez_compressed(
                    f,
                    stream=np.array(c["stream"], str),
                    frame=arr("frame", np.int64, ()),
                    t=arr("t", np.float64, ()),
                    id=arr("id", np.int64, ()),
                    score=arr("score", np.float32, ()),
                    kp3d=arr("kp3d", np.float32, (NUM_JOINTS, 3)),
                    kp2d=arr("kp2d", np.float32, (NUM_JOINTS, 2)),
                    conf=arr("conf", np.float32, (NUM_JOINTS,)),
                    camera=arr("camera", np.float32, (4,)),
                    joint_names=np.array(JOINT_NAMES),
                    axes=np.array(self.axes),
                    **self._world_arrays(),
                )
        except OSError as err:  # a full disk: no half zip file left behind
            if self.path.is_file():  # never a device such as /dev/full
                with contextlib.suppress(OSError):
                    self.path.unlink()
            raise write_failed(self.path, err) from None
