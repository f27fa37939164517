"""A pose message written as JSON (arrays as nested lists, as `subscribe --json` prints it and
JSON-lines and MCAP files hold it) back to the map the wire carries (arrays as float32 bytes)."""

from __future__ import annotations

from typing import Any

import numpy as np

from camerapose.runtime.wire.schema import (
    OPTIONAL_PERSON_ARRAYS,
    PERSON_ARRAYS,
    SchemaError,
    encode_array,
    validate,
)


def wire_map(obj: Any) -> dict[str, Any]:
    """One JSON message -> the map the wire carries (arrays packed as float32 bytes), checked by the
    wire decoder (SchemaError); `schema.pack` of it is a payload as the runtime publishes it."""
    if not isinstance(obj, dict):
        raise SchemaError("not a JSON object")
    raw = dict(obj)
    persons = raw.get("persons")
    if isinstance(persons, list):
        raw["persons"] = [_pack_person(p) for p in persons]
    validate(raw)
    return raw


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
