"""`run --save poses.mcap`: the published messages in an MCAP file (`runtime/wire/mcap_io.py`), one
channel per stream (topic `pose.<stream>`), each message at its time in the source (`t_media`, or
its publish time relative to the first message for sources without one)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from camerapose.runtime.files.writers import MessageWriter
from camerapose.runtime.wire.schema import topic


class McapWriter(MessageWriter):
    """Every message written, persons or not, of every stream, the world stream's included: MCAP
    keeps the wire's messages as they are (in their own axes: no `axes` other than the camera's)."""

    suffix = ".mcap"

    def __init__(self, path: str | Path, axes: str = "camera") -> None:
        from camerapose.runtime.wire.mcap_io import McapRecorder

        super().__init__(path, axes)
        self.out = McapRecorder(self.path)
        self.t0: float | None = None
        self.closed = False

    def write(self, msg: dict[str, Any]) -> None:
        t = msg.get("t_media")
        if t is None:
            self.t0 = msg["t_publish"] if self.t0 is None else self.t0
            t = msg["t_publish"] - self.t0
        self.out.write_decoded(max(float(t), 0.0), topic(msg["stream"]), msg)
        self.rows += len(msg["persons"])

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.out.close()
