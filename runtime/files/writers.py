"""What the message writers (csv.py, jsonl.py, npz.py) share: open with a path, `write(message)`
once per decoded message, `close()`. save.py picks one by format."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path
from types import TracebackType
from typing import Any

from camerapose.core.errors import InputError, write_failed

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


class WholeWrites:
    """A file written in whole pieces (one per message): each goes to the OS at once, unbuffered, so
    the file always ends with a whole message, even after a kill. A write that fails (a full disk)
    cuts a regular file back to its last whole piece and raises one InputError line naming the path
    and the errno (ENOSPC); what was written before stays as it was."""

    def __init__(self, path: Path) -> None:
        self.path, self.size = path, 0
        try:
            self.file = open(path, "wb", buffering=0)
        except OSError as err:
            raise InputError(f"{path}: cannot write ({err.strerror})") from None

    def write(self, text: str) -> None:
        data = memoryview(text.encode("utf-8"))
        done = 0
        try:
            while done < len(data):
                n = self.file.write(data[done:])
                if not n:
                    raise OSError(0, "the write wrote nothing")
                done += n
        except OSError as err:
            self._cut()
            raise write_failed(self.path, err) from None
        self.size += len(data)

    def _cut(self) -> None:
        with contextlib.suppress(OSError):  # the error being reported says enough
            fd = self.file.fileno()
            if stat.S_ISREG(os.fstat(fd).st_mode):
                os.ftruncate(fd, self.size)

    def close(self) -> None:
        self.file.close()  # nothing is buffered: closing cannot fail on a full disk


def write_file(path: Path, text: str) -> None:
    """A whole file at once (BVH, TRC); on failure (a full disk) one InputError line naming the path
    and the errno, and no half file left behind."""
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as err:
        if path.is_file():  # never a device such as /dev/full
            with contextlib.suppress(OSError):
                path.unlink()
        raise write_failed(path, err) from None
