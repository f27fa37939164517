"""CSV: one row per person per message (a track's file: one row per frame it was seen in).

Columns: stream, frame, t (seconds: t_media, the frame's time in the source; t_capture for messages
without it), id, score, fx, fy, cx, cy (pixels), then per joint
`<Joint>_x, _y, _z` (metres, the file's axes), then `<Joint>_u, _v` (pixels), then `<Joint>_conf`,
joints in H36M-17 order with the names of tracks.JOINT_NAMES (docs/files.md)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from camerapose.runtime.files.messages import media_time
from camerapose.runtime.files.tracks import JOINT_NAMES
from camerapose.runtime.files.writers import MessageWriter, WholeWrites

HEADER: tuple[str, ...] = (
    "stream", "frame", "t", "id", "score", "fx", "fy", "cx", "cy",
    *(f"{name}_{c}" for name in JOINT_NAMES for c in "xyz"),
    *(f"{name}_{c}" for name in JOINT_NAMES for c in "uv"),
    *(f"{name}_conf" for name in JOINT_NAMES),
)


class CsvWriter(MessageWriter):
    suffix = ".csv"

    def __init__(self, path: str | Path, axes: str = "camera") -> None:
        super().__init__(path, axes)
        self.file = WholeWrites(self.path)
        self.rows_text = io.StringIO(newline="")  # one message's rows, then written as one piece
        self.csv = csv.writer(self.rows_text)
        self.csv.writerow(HEADER)
        self._put()

    def write(self, msg: dict[str, Any]) -> None:
        super().write(msg)
        self._put()

    def _put(self) -> None:
        text = self.rows_text.getvalue()
        self.rows_text.seek(0)
        self.rows_text.truncate()
        if text:
            self.file.write(text)

    def write_person(self, msg: dict[str, Any], p: dict[str, Any]) -> None:
        cam = p["camera"]
        head = [msg["stream"], msg["frame"], f"{media_time(msg):.6f}", p["id"], f"{p['score']:.4f}",
                *(f"{cam[k]:.3f}" for k in ("fx", "fy", "cx", "cy"))]
        self.csv.writerow([
            *head,
            *(f"{v:.5f}" for v in p["kp3d"].ravel()),
            *(f"{v:.2f}" for v in p["kp2d"].ravel()),
            *(f"{v:.4f}" for v in p["conf"]),
        ])

    def close(self) -> None:
        self.file.close()
