"""CSV: one row per person per message (a track's file: one row per frame it was seen in).

Columns: stream, frame, t (seconds: t_media, the frame's time in the source; t_capture for messages
without it), id, score, fx, fy, cx, cy (pixels), then per joint
`<Joint>_x, _y, _z` (metres, the file's axes), then `<Joint>_u, _v` (pixels), then `<Joint>_conf`,
joints in H36M-17 order with the names of tracks.JOINT_NAMES (docs/files.md).

The world stream's persons (`"kind": "world"`) have no 2D, confidences or camera, so they go to a
table of their own (`WORLD_HEADER`): `CsvWriter` writes them to a second file beside its own,
`<stem>_world.csv` (`world_path`), opened at the first world message; `WorldCsvWriter` is that
table alone (`convert --world --to csv`: one file per world id)."""

from __future__ import annotations

import csv
import io
import logging
from pathlib import Path
from typing import Any

from camerapose.runtime.files.messages import media_time
from camerapose.runtime.files.tracks import JOINT_NAMES
from camerapose.runtime.files.writers import MessageWriter, WholeWrites
from camerapose.runtime.wire.schema import is_world

log = logging.getLogger(__name__)

HEADER: tuple[str, ...] = (
    "stream", "frame", "t", "id", "score", "fx", "fy", "cx", "cy",
    *(f"{name}_{c}" for name in JOINT_NAMES for c in "xyz"),
    *(f"{name}_{c}" for name in JOINT_NAMES for c in "uv"),
    *(f"{name}_conf" for name in JOINT_NAMES),
)
# The world stream's table: kp3d in the calibration's world frame, per joint the views it was
# triangulated from (0: filled from a monocular pose) and their reprojection error (pixels); tracks:
# the cameras' track ids of the person, "stream:id" separated by spaces (stream names hold neither).
WORLD_HEADER: tuple[str, ...] = (
    "stream", "frame", "t", "id", "score", "single_view", "tracks",
    *(f"{name}_{c}" for name in JOINT_NAMES for c in "xyz"),
    *(f"{name}_views" for name in JOINT_NAMES),
    *(f"{name}_reproj_px" for name in JOINT_NAMES),
)


def world_path(path: str | Path) -> Path:
    """Where a CSV file's world rows go: `poses.csv` -> `poses_world.csv`."""
    path = Path(path)
    return path.with_name(f"{path.stem}_world{path.suffix or '.csv'}")


class _Table(MessageWriter):
    """One CSV table: its header, then each message's rows written as one piece."""

    suffix = ".csv"
    header: tuple[str, ...] = ()

    def __init__(self, path: str | Path, axes: str = "camera") -> None:
        super().__init__(path, axes)
        self.file = WholeWrites(self.path)
        self.rows_text = io.StringIO(newline="")  # one message's rows, then written as one piece
        self.csv = csv.writer(self.rows_text)
        self.csv.writerow(self.header)
        self._put()

    def _put(self) -> None:
        text = self.rows_text.getvalue()
        self.rows_text.seek(0)
        self.rows_text.truncate()
        if text:
            self.file.write(text)

    def close(self) -> None:
        self.file.close()


class WorldCsvWriter(_Table):
    """The world stream's table (`WORLD_HEADER`); a camera stream's messages are left out, with one
    warning."""

    header = WORLD_HEADER

    def __init__(self, path: str | Path, axes: str = "camera") -> None:
        super().__init__(path, axes)
        self.warned = False

    def write(self, msg: dict[str, Any]) -> None:
        if not is_world(msg):
            if not self.warned and msg["persons"]:
                log.warning("%s: the world stream's table; persons of camera streams are left out", self.path)
                self.warned = True
            return
        super().write(msg)
        self._put()

    def write_person(self, msg: dict[str, Any], p: dict[str, Any]) -> None:
        tracks = " ".join(f"{s}:{i}" for s, i in sorted(p["tracks"].items()))
        self.csv.writerow([
            msg["stream"], msg["frame"], f"{media_time(msg):.6f}", p["id"], f"{p['score']:.4f}",
            int(p["single_view"]), tracks,
            *(f"{v:.5f}" for v in p["kp3d"].ravel()),
            *(f"{v:.0f}" for v in p["views"]),
            *(f"{v:.2f}" for v in p["reproj_px"]),
        ])


class CsvWriter(_Table):
    """A camera streams' table (`HEADER`); the world stream's rows go to `world_path(path)`."""

    header = HEADER

    def __init__(self, path: str | Path, axes: str = "camera") -> None:
        super().__init__(path, axes)
        self.world: WorldCsvWriter | None = None

    def write(self, msg: dict[str, Any]) -> None:
        if is_world(msg):
            if self.world is None:
                self.world = WorldCsvWriter(world_path(self.path), self.axes)
                log.info("%s: the world stream's persons go to %s (a table of their own)", self.path,
                         self.world.path)
            self.world.write(msg)
            return
        super().write(msg)
        self._put()

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
        super().close()
        if self.world is not None:
            self.world.close()
