"""A pose message written as JSON (arrays as nested lists, as `subscribe --json` prints it and
JSON-lines and MCAP files hold it) back to the map the wire carries (arrays as float32 bytes).

Both kinds of message: a camera's (persons with kp2d, conf, kp3d, camera.t, ...) and the world
stream's (`"kind": "world"`: persons with kp3d, views, reproj_px; cameras with K, R, t)."""

from __future__ import annotations

from typing import Any

import numpy as np

from camerapose.runtime.wire.schema import (
    CAMERA_POSE_ARRAYS,
    OPTIONAL_PERSON_ARRAYS,
    PERSON_ARRAYS,
    WORLD_PERSON_ARRAYS,
    SchemaError,
    encode_array,
    is_world,
    validate,
)


def wire_map(obj: Any) -> dict[str, Any]:
    """One JSON message -> the map the wire carries (arrays packed as float32 bytes), checked by the
    wire decoder (SchemaError); `schema.pack` of it is a payload as the runtime publishes it."""
    if not isinstance(obj, dict):
        raise SchemaError("not a JSON object")
    raw = dict(obj)
    world = is_world(raw)
    persons = raw.get("persons")
    if isinstance(persons, list):
        keys = tuple(WORLD_PERSON_ARRAYS) if world else (*PERSON_ARRAYS, *OPTIONAL_PERSON_ARRAYS)
        raw["persons"] = [_pack_person(p, keys, not world) for p in persons]
    cameras = raw.get("cameras")
    if world and isinstance(cameras, list):
        raw["cameras"] = [_pack_keys(c, tuple(CAMERA_POSE_ARRAYS), "cameras") for c in cameras]
    validate(raw)
    return raw


def _pack_keys(obj: Any, keys: tuple[str, ...], where: str) -> Any:
    if not isinstance(obj, dict):
        return obj  # validate() names the problem
    out = dict(obj)
    for key in keys:
        if key in out:
            out[key] = _pack_array(out[key], f"{where}.{key}")
    return out


def _pack_person(p: Any, keys: tuple[str, ...], camera: bool) -> Any:
    out = _pack_keys(p, keys, "persons")
    if not camera or not isinstance(out, dict):
        return out
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
