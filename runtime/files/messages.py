"""Reading pose messages from files: a `.cprec` recording (`camerapose record`) or JSON lines, one
decoded message per line, as `camerapose subscribe --json` prints them (and the jsonl writer writes).

Both give the decoded messages of runtime/wire/schema.py (numpy float32 arrays), validated the same
way: a corrupt file is an InputError naming the file and the message, never a traceback.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from camerapose.core.errors import InputError
from camerapose.runtime.wire.json_map import wire_map
from camerapose.runtime.wire.mcap_io import MAGIC as MCAP_MAGIC
from camerapose.runtime.wire.record import MAGIC, read_recording
from camerapose.runtime.wire.schema import SchemaError, decode, validate


def media_time(msg: dict[str, Any]) -> float:
    """A message's time in seconds as files write it (`t`): `t_media`, the frame's time in the
    source, when the message carries it; else (recorded before messages carried it) `t_capture`."""
    return msg["t_media"] if "t_media" in msg else msg["t_capture"]


def source_fps(messages: list[dict[str, Any]]) -> float | None:
    """The source's frame rate as the messages state it (the first one with `fps`); None when none
    does (recordings made before messages carried it)."""
    return next((m["fps"] for m in messages if "fps" in m), None)


def read_messages(path: str | Path) -> Iterator[dict[str, Any]]:
    """Every message of a recording or a JSON-lines file, in file order (the kind is told by the
    file's first bytes, not its name)."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(len(MAGIC))
    except OSError as err:
        raise InputError(f"{path}: cannot open ({err.strerror})") from None
    if head in (MAGIC, MCAP_MAGIC):
        yield from _recording(path)
    else:
        yield from _json_lines(path)


def _recording(path: Path) -> Iterator[dict[str, Any]]:
    for i, (_, _, payload) in enumerate(read_recording(path)):
        try:
            yield decode(payload)
        except SchemaError as err:
            raise InputError(f"{path}: message {i + 1}: {err}") from None


def _json_lines(path: Path) -> Iterator[dict[str, Any]]:
    with open(path, "rb") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except (ValueError, UnicodeDecodeError):
                raise InputError(
                    f"{path}: line {n} is not JSON (expected a .cprec recording or JSON lines of pose "
                    "messages, as `camerapose subscribe --json` prints)"
                ) from None
            try:
                yield from_json(obj)
            except SchemaError as err:
                raise InputError(f"{path}: line {n}: {err}") from None


def from_json(obj: Any) -> dict[str, Any]:
    """One JSON message (arrays as nested lists) -> the decoded message `schema.decode` would give.

    The lists are packed as wire arrays and checked by the wire decoder, so both inputs obey one
    set of rules."""
    return validate(wire_map(obj))
