"""NumPy .npz: the rows of every message written, as arrays, saved when the writer closes (so the
rows are held in memory until then: about 0.5 kB per person per frame).

Arrays (N rows = persons over all messages): stream (N,) str, frame (N,) int64, t (N,) float64
(seconds: t_media, the frame's time in the source; t_capture for messages without it), id (N,)
int64, score (N,), kp3d (N, 17, 3) metres in the file's axes, kp2d (N, 17, 2) pixels, conf
(N, 17), camera (N, 4) fx, fy, cx, cy pixels; joint_names (17,) and axes () str."""

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


class NpzWriter(MessageWriter):
    suffix = ".npz"

    def __init__(self, path: str | Path, axes: str = "camera") -> None:
        super().__init__(path, axes)
        if not self.path.parent.is_dir():
            raise InputError(f"{self.path}: folder {self.path.parent} does not exist")
        keys = ("stream", "frame", "t", "id", "score", "kp3d", "kp2d", "conf", "camera")
        self.columns: dict[str, list] = {k: [] for k in keys}
        self.closed = False

    def write_person(self, msg: dict[str, Any], p: dict[str, Any]) -> None:
        cam = p["camera"]
        for key, value in (("stream", msg["stream"]), ("frame", msg["frame"]), ("t", media_time(msg)),
                           ("id", p["id"]), ("score", p["score"]), ("kp3d", p["kp3d"]), ("kp2d", p["kp2d"]),
                           ("conf", p["conf"]), ("camera", [cam[k] for k in ("fx", "fy", "cx", "cy")])):
            self.columns[key].append(value)

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
                )
        except OSError as err:  # a full disk: no half zip file left behind
            if self.path.is_file():  # never a device such as /dev/full
                with contextlib.suppress(OSError):
                    self.path.unlink()
            raise write_failed(self.path, err) from None
