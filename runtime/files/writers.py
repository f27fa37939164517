"""What the message writers (csv.py, jsonl.py, npz.py) share: open with a path, `write(message)`
once per decoded message, `close()`. save.py picks one by format."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

from camerapose.core.errors import InputError

# What the 3D coordinates of a written file mean (docs/files.md, "Axes").
AXES = ("camera", "world")


class MessageWriter:
    """Base of the message writers: a context manager over open / write(message) / close."""

    suffix = ""

    def __init__(self, path: str | Path, axes: str = "camera") -> None:
        if axes not in AXES:
            raise ValueError(f"axes must be one of {AXES}, got {axes!r}")
        self.path, self.axes, self.rows = Path(path), axes, 0

    def write(self, msg: dict[str, Any]) -> None:
        """One decoded message (runtime/wire/schema.py's `decode`): one row per person in it."""
        for p in msg["persons"]:
            self.write_person(msg, p)
            self.rows += 1

    def write_person(self, msg: dict[str, Any], person: dict[str, Any]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Finish the file; safe to call twice."""

    def __enter__(self) -> MessageWriter:
        return self

    def __exit__(self, kind: type | None, err: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def open_text(path: Path) -> TextIO:
    """A text file opened for writing, or one InputError line saying why not."""
    try:
        return open(path, "w", encoding="utf-8", newline="")
    except OSError as err:
        raise InputError(f"{path}: cannot write ({err.strerror})") from None
