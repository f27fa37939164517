"""Saving pose messages one at a time, in the format a path asks for. The writers stream (csv, jsonl)
or collect (npz) and serve both `camerapose convert` (fed one track's messages at a time) and
anything that saves a live stream message by message:

    with open_writer("poses.csv") as w:
        for msg in subscribe(endpoint):
            w.write(msg)
"""

from __future__ import annotations

from pathlib import Path

from camerapose.core.errors import InputError
from camerapose.runtime.files.csv import CsvWriter, WorldCsvWriter
from camerapose.runtime.files.jsonl import JsonlWriter
from camerapose.runtime.files.mcap_file import McapWriter
from camerapose.runtime.files.npz import NpzWriter
from camerapose.runtime.files.writers import MessageWriter

WRITERS: dict[str, type[MessageWriter]] = {"csv": CsvWriter, "jsonl": JsonlWriter, "npz": NpzWriter,
                                            "mcap": McapWriter}


def open_writer(path: str | Path, fmt: str | None = None, axes: str = "camera",
                world: bool = False) -> MessageWriter:
    """A message writer for `fmt` ("csv", "jsonl", "npz" or "mcap"; default: the path's suffix).
    `axes`: "camera" (as published) or "world" (the caller has moved kp3d and camera.t there).
    Every writer takes the world stream's messages too (docs/files.md: CSV puts them in a second
    file, `<stem>_world.csv`); `world=True` asks for a file of world messages only (a CSV file is
    then the world table itself)."""
    fmt = fmt or Path(path).suffix.lstrip(".").lower()
    if fmt not in WRITERS:
        raise InputError(f"{path}: cannot save messages as {fmt!r} (choose {', '.join(WRITERS)})")
    if world and fmt == "csv":
        return WorldCsvWriter(path, axes)
    return WRITERS[fmt](path, axes)
