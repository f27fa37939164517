"""A stage's per-stream state as bytes and back, without pickle.

The offline snapshots (`base.Snapshots`) hold trackers, filters and bone estimates: plain data
classes of this package, numpy arrays, containers and scalars. Pickle would rebuild whatever a file
names (and run its code); this codec rebuilds only what `ALLOWED` lists, by setting attributes on a
bare instance, so a file can hold data but never make anything run. msgpack carries the structure;
each kind msgpack lacks is an extension type:

    ndarray -> (dtype, shape, bytes)     tuple / deque -> items (deque: and maxlen)
    dict    -> [[key, value], ...]        (keys may be ints or tuples)
    object  -> (allowed class name, its attributes as a dict)
"""

from __future__ import annotations

import dataclasses
from collections import deque
from typing import Any

import msgpack
import numpy as np

from camerapose.core.lift_steps import BoneLengths, PerTrack, PostConfig, StreamCamera, TrackFilters
from camerapose.core.one_euro import OneEuroConfig, OneEuroFilter
from camerapose.runtime.detect.base import OnnxModelConfig
from camerapose.runtime.detect.blazepose import StreamState as BlazePoseStreamState
from camerapose.runtime.detect.tracker import Tracker, TrackerConfig, TrackState
from camerapose.runtime.lift_engine import LiftConfig

ARRAY, TUPLE, DEQUE, DICT, OBJECT = 1, 2, 3, 4, 5
# The classes a snapshot may hold: state objects and the frozen configs they keep a reference to.
ALLOWED: dict[str, type] = {
    f"{cls.__module__}.{cls.__qualname__}": cls
    for cls in (OneEuroConfig, OneEuroFilter, TrackState, Tracker, TrackerConfig, OnnxModelConfig,
                BlazePoseStreamState, BoneLengths, LiftConfig, PostConfig, PerTrack, StreamCamera,
                TrackFilters)
}


class SnapshotError(ValueError):
    """Bytes that are not a snapshot this codec wrote (corrupt, truncated or foreign)."""


def dumps(obj: Any) -> bytes:
    """State -> bytes; TypeError for a value of a kind or class the codec does not allow."""
    return msgpack.packb(obj, default=_encode, use_bin_type=True, strict_types=True)


def loads(data: bytes) -> Any:
    """bytes -> state; SnapshotError for anything `dumps` did not write."""
    try:
        return msgpack.unpackb(data, ext_hook=_decode, raw=False, strict_map_key=False)
    except SnapshotError:
        raise
    except Exception as err:  # msgpack raises several types for corrupt input
        raise SnapshotError(f"not a snapshot ({type(err).__name__}: {err})") from None


def _ext(code: int, value: Any) -> msgpack.ExtType:
    return msgpack.ExtType(code, dumps(value))


def _encode(obj: Any) -> msgpack.ExtType | Any:
    if isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            raise TypeError("snapshot: object arrays are not allowed")
        return _ext(ARRAY, [obj.dtype.str, list(obj.shape), np.ascontiguousarray(obj).tobytes()])
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, tuple):
        return _ext(TUPLE, list(obj))
    if isinstance(obj, deque):
        return _ext(DEQUE, [obj.maxlen, list(obj)])
    if isinstance(obj, dict):
        return _ext(DICT, [[k, v] for k, v in obj.items()])
    if isinstance(obj, list):  # strict_types: a list subclass would land here
        raise TypeError(f"snapshot: {type(obj).__name__} is not allowed")
    name = f"{type(obj).__module__}.{type(obj).__qualname__}"
    if name not in ALLOWED:
        raise TypeError(f"snapshot: {name} is not an allowed state class")
    return _ext(OBJECT, [name, _attributes(obj)])


def _attributes(obj: Any) -> dict[str, Any]:
    if dataclasses.is_dataclass(obj):
        return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    return dict(vars(obj))


def _decode(code: int, data: bytes) -> Any:
    value = loads(data)
    if code == ARRAY:
        dtype, shape, raw = value
        dt = np.dtype(dtype)
        if dt.hasobject:
            raise SnapshotError("snapshot: object arrays are not allowed")
        return np.frombuffer(raw, dt).reshape(shape).copy()
    if code == TUPLE:
        return tuple(value)
    if code == DEQUE:
        maxlen, items = value
        return deque(items, maxlen)
    if code == DICT:
        return {_hashable(k): v for k, v in value}
    if code == OBJECT:
        name, attrs = value
        cls = ALLOWED.get(name)
        if cls is None:
            raise SnapshotError(f"snapshot: class {name!r} is not allowed")
        obj = object.__new__(cls)  # no __init__, no __setstate__, no __reduce__: data only
        for key, val in attrs.items():
            object.__setattr__(obj, key, val)  # frozen dataclasses too
        return obj
    raise SnapshotError(f"snapshot: unknown extension type {code}")


def _hashable(key: Any) -> Any:
    """A decoded dict key: lists (from msgpack) become tuples."""
    return tuple(_hashable(k) for k in key) if isinstance(key, list) else key
