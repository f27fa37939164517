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

import numpy as np

from camerapose.core.errors import InputError
from camerapose.runtime.wire.record import MAGIC, read_recording
from camerapose.runtime.wire.schema import (
    OPTIONAL_PERSON_ARRAYS,
    PERSON_ARRAYS,
    SchemaError,
    decode,
    encode_array,
    validate,
)


def read_messages(path: str | Path) -> Iterator[dict[str, Any]]:
    """Every message of a recording or a JSON-lines file, in file order (the kind is told by the
    file's first bytes, not its name)."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(len(MAGIC))
    except OSError as err:
        raise InputError(f"{path}: cannot open ({err.strerror})") from None
    if head == MAGIC:
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
    if not isinstance(obj, dict):
        raise SchemaError("not a JSON object")
    raw = dict(obj)
    persons = raw.get("persons")
    if isinstance(persons, list):
        raw["persons"] = [_pack_person(p) for p in persons]
    return validate(raw)


def _pack_person(p: Any) -> Any:
    if not isinstance(p, dict):
        return p  # validate() names the problem
    out = dict(p)
    for key in (*PERSON_ARRAYS, *OPTIONAL_PERSON_ARRAYS):
        if key in out:
            out[key] = _pack_array(out[key], key)
    cam = out.get("camera")
    if isinstance(cam, dict) and "t" in cam:
        out["camera"] = {**cam, "t": _pack_array(cam["t"], "camera.t")}
    return out


def _pack_array(value: Any, where: str) -> dict[str, Any]:
    try:
        a = np.asarray(value, dtype=np.float64)
    except (ValueError, TypeError):
        raise SchemaError(f"{where}: expected a list of numbers (or nested lists)") from None
    return encode_array(a)
