"""JSON lines: one message per line, exactly as `camerapose subscribe --json` prints it (arrays as
nested lists, rounded to 10 micrometres), so `camerapose convert` reads the file back. With world
axes each line also has `"axes": "world"` and kp3d / camera.t are in those axes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from camerapose.runtime.files.writers import MessageWriter, WholeWrites
from camerapose.runtime.wire.schema import to_json


class JsonlWriter(MessageWriter):
    """One line per message written (also for a message with nobody in it)."""

    suffix = ".jsonl"

    def __init__(self, path: str | Path, axes: str = "camera") -> None:
        super().__init__(path, axes)
        self.file = WholeWrites(self.path)

    def write(self, msg: dict[str, Any]) -> None:
        line = to_json(msg)
        if self.axes != "camera":
            line["axes"] = self.axes
        self.file.write(json.dumps(line, separators=(",", ":")) + "\n")
        self.rows += len(msg["persons"])

    def close(self) -> None:
        self.file.close()
