"""The wire format of the pose stream: msgpack schema v1 (documented for other languages in docs/schema.md).

One ZeroMQ message = two frames: the topic `pose.<stream>` (UTF-8) and a msgpack map:

    {"schema": 1, "stream": str, "frame": int, "t_capture": float, "t_publish": float,
     "t_wall": float, "t_media": float, "fps": float,   # t_media, fps: optional (added in v1)
     "image_size": [w, h], "timings": {stage: ms}, "dropped": int,
     "persons": [{"id": int, "score": float, "box": ARR(4), "kp2d": ARR(17, 2), "conf": ARR(17),
                  "kp3d": ARR(17, 3), "camera": {"fx", "fy", "cx", "cy": float, "t": ARR(3),
                  "source": "predicted" | "given"},
                  "kp3d_teacher": ARR(17, 3)}]}     # optional, only with publish.teacher_3d

ARR = {"dtype": "<f4", "shape": [...], "data": <bin: little-endian float32, C order>}. No pickle.
`decode` validates everything (types, shapes, sizes, finiteness of the header) so a truncated or
hostile payload raises `SchemaError` (an InputError) and never anything else.
"""

from __future__ import annotations

import math
from typing import Any

import msgpack
import numpy as np

from camerapose.core.errors import InputError
from camerapose.core.skeleton import NUM_JOINTS

SCHEMA_VERSION = 1
TOPIC_PREFIX = "pose."
DTYPE = "<f4"
MAX_PERSONS = 256  # a decoder refuses more (a hostile message must not allocate without bound)
# The largest payload a decoder accepts, and every subscriber socket's ZMQ_MAXMSGSIZE: a peer that
# sends a bigger frame is disconnected before anything is allocated. A message of MAX_PERSONS
# persons, kp3d_teacher included, is about 0.24 MB.
MAX_MESSAGE_BYTES = 4 << 20
# The publisher's ZMQ_MAXMSGSIZE: all a subscriber ever sends is a subscription, b"\x01" + topic.
MAX_SUBSCRIPTION_BYTES = 4 << 10

MAX_INT = 2**53  # the largest frame index / track id: what a double (JavaScript, JSON readers) keeps exact
TOP_KEYS = ("schema", "stream", "frame", "t_capture", "t_publish", "image_size", "timings", "persons")
# Optional top-level keys (added to v1; a message of an older runtime has none): the frame's time in
# the source (index / fps, seconds) and the source's frame rate. Checked when present.
OPTIONAL_TOP_NUMBERS = ("t_media", "fps")
PERSON_KEYS = ("id", "score", "kp2d", "conf", "kp3d", "camera")
CAMERA_KEYS = ("fx", "fy", "cx", "cy", "t")
PERSON_ARRAYS = {"kp2d": (NUM_JOINTS, 2), "conf": (NUM_JOINTS,), "kp3d": (NUM_JOINTS, 3)}
# Optional per-person arrays: absent unless the runtime was asked for them.
OPTIONAL_PERSON_ARRAYS = {"box": (4,), "kp3d_teacher": (NUM_JOINTS, 3)}

# The world stream (`"kind": "world"`, added to v1; stream "world", topic pose.world): the fuse
# stage's persons in the calibration's world frame, and the cameras. No image_size (no image).
WORLD = "world"
WORLD_PERSON_KEYS = ("id", "score", "kp3d", "views", "reproj_px", "single_view", "tracks")
WORLD_PERSON_ARRAYS = {"kp3d": (NUM_JOINTS, 3), "views": (NUM_JOINTS,), "reproj_px": (NUM_JOINTS,)}
CAMERA_POSE_KEYS = ("name", "stream", "K", "R", "t", "size")
CAMERA_POSE_ARRAYS = {"K": (4,), "R": (3, 3), "t": (3,)}
MAX_CAMERAS = 64


class SchemaError(InputError):
    """A payload that is not a valid pose message of this schema version."""


def topic(stream: str) -> bytes:
    return (TOPIC_PREFIX + stream).encode()


def encode_array(a: np.ndarray) -> dict[str, Any]:
    """numpy array -> {"dtype": "<f4", "shape": [...], "data": bytes} (float32, little-endian, C order)."""
    a = np.ascontiguousarray(a, dtype=DTYPE)
    return {"dtype": DTYPE, "shape": list(a.shape), "data": a.tobytes()}


def decode_array(obj: Any, where: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Inverse of `encode_array`, strict: dtype, shape (if given) and byte count must agree."""
    if not isinstance(obj, dict) or set(obj) != {"dtype", "shape", "data"}:
        raise SchemaError(f"{where}: expected an array map {{dtype, shape, data}}")
    dims = obj["shape"]
    if obj["dtype"] != DTYPE:
        raise SchemaError(f"{where}: dtype must be {DTYPE!r}, got {obj['dtype']!r}")
    if (
        not isinstance(dims, list)
        or len(dims) > 8
        or not all(isinstance(d, int) and not isinstance(d, bool) and 0 <= d < 1 << 20 for d in dims)
    ):
        raise SchemaError(f"{where}: bad shape {dims!r}")
    if shape is not None and tuple(dims) != shape:
        raise SchemaError(f"{where}: shape {dims} != expected {list(shape)}")
    data = obj["data"]
    if not isinstance(data, bytes) or len(data) != 4 * math.prod(dims):
        raise SchemaError(f"{where}: data must be {4 * math.prod(dims)} bytes for shape {dims}")
    return np.frombuffer(data, dtype=DTYPE).reshape(dims).astype(np.float32)


def person(
    pid: int,
    score: float,
    box: np.ndarray,
    kp2d: np.ndarray,
    conf: np.ndarray,
    kp3d: np.ndarray,
    fx: float,
    fy: float,
    cx: float,
    cy: float,
    t: np.ndarray,
    source: str = "predicted",
    teacher: np.ndarray | None = None,
) -> dict:
    """One person's wire map (arrays encoded); `teacher` (17, 3), when given, is published as
    `kp3d_teacher` (else the key is absent and the bytes are those of a person without it)."""
    out = {
        "id": int(pid),
        "score": float(score),
        "box": encode_array(box),
        "kp2d": encode_array(kp2d),
        "conf": encode_array(conf),
        "kp3d": encode_array(kp3d),
        "camera": {
            "fx": float(fx),
            "fy": float(fy),
            "cx": float(cx),
            "cy": float(cy),
            "t": encode_array(t),
            "source": source,
        },
    }
    if teacher is not None:
        out["kp3d_teacher"] = encode_array(teacher)
    return out


def world_person(pid: int, score: float, kp3d: np.ndarray, views: np.ndarray, reproj_px: np.ndarray,
                 single_view: bool, tracks: dict[str, int]) -> dict:
    """One world person's wire map: kp3d (17, 3) metres in the world frame, per joint the number of
    views it was triangulated from (17,) (0: filled from a monocular pose) and their reprojection
    error in pixels (17,), whether one camera alone saw them, and stream -> that stream's track id."""
    return {"id": int(pid), "score": float(score), "kp3d": encode_array(kp3d), "views": encode_array(views),
            "reproj_px": encode_array(reproj_px), "single_view": bool(single_view),
            "tracks": {str(k): int(v) for k, v in tracks.items()}}


def camera_pose(name: str, stream: str, k: tuple[float, float, float, float], R: np.ndarray, t: np.ndarray,
                size: tuple[int, int] | None) -> dict:
    """One camera of the world stream: K as (fx, fy, cx, cy) pixels, R (3, 3) and t (3,) world ->
    camera (x_cam = R x_world + t, metres), the image size [w, h] (or [0, 0] if unknown)."""
    return {"name": name, "stream": stream, "K": encode_array(np.asarray(k)), "R": encode_array(R),
            "t": encode_array(t), "size": [int(v) for v in (size or (0, 0))]}


def pack(msg: dict[str, Any]) -> bytes:
    """A message map (arrays already encoded) -> msgpack bytes."""
    return msgpack.packb(msg, use_bin_type=True)


def unpack(payload: bytes) -> dict[str, Any]:
    """msgpack bytes -> raw map (arrays still encoded); SchemaError on anything that is not a map."""
    if not isinstance(payload, bytes | bytearray | memoryview) or len(payload) > MAX_MESSAGE_BYTES:
        raise SchemaError("payload: not bytes or larger than the 4 MiB limit")
    try:
        obj = msgpack.unpackb(
            payload,
            raw=False,
            strict_map_key=True,
            max_bin_len=MAX_MESSAGE_BYTES,
            max_str_len=1 << 16,
            max_array_len=1 << 16,
            max_map_len=1 << 10,
        )
    except Exception as err:  # msgpack raises several types (ExtraData, FormatError, ValueError...)
        raise SchemaError(f"payload: not msgpack ({type(err).__name__})") from None
    if not isinstance(obj, dict):
        raise SchemaError("payload: top level must be a map")
    return obj


def _num(obj: dict, key: str, where: str, kind: type = float) -> Any:
    v = obj.get(key)
    ok = (
        isinstance(v, int | float) and not isinstance(v, bool)
        if kind is float
        else (isinstance(v, int) and not isinstance(v, bool))
    )
    if not ok or (kind is float and not math.isfinite(v)):
        raise SchemaError(f"{where}.{key}: expected a finite {kind.__name__}, got {type(v).__name__}")
    if kind is int and not 0 <= v <= MAX_INT:  # a frame index or a track id: never negative, and
        raise SchemaError(f"{where}.{key}: expected an integer in [0, 2^53], got {v}")  # exact as a double
    return kind(v)


def _person_head(p: Any, where: str, keys: tuple[str, ...], arrays: dict[str, tuple[int, ...]]
                 ) -> dict[str, Any]:
    """A person map's keys checked, its id, score and arrays decoded."""
    if not isinstance(p, dict) or any(k not in p for k in keys):
        raise SchemaError(f"{where}: must be a map with keys {list(keys)}")
    out: dict[str, Any] = {"id": _num(p, "id", where, int), "score": _num(p, "score", where)}
    for key, shape in arrays.items():
        out[key] = decode_array(p[key], f"{where}.{key}", shape)
    return out


def _person(p: Any, i: int) -> dict[str, Any]:
    where = f"persons[{i}]"
    out = _person_head(p, where, PERSON_KEYS, PERSON_ARRAYS)
    for key, shape in OPTIONAL_PERSON_ARRAYS.items():
        if key in p:
            out[key] = decode_array(p[key], f"{where}.{key}", shape)
    cam = p["camera"]
    if not isinstance(cam, dict) or any(k not in cam for k in CAMERA_KEYS):
        raise SchemaError(f"{where}.camera: must be a map with keys {list(CAMERA_KEYS)}")
    out["camera"] = {k: _num(cam, k, f"{where}.camera") for k in ("fx", "fy", "cx", "cy")}
    out["camera"]["t"] = decode_array(cam["t"], f"{where}.camera.t", (3,))
    out["camera"]["source"] = str(cam.get("source", "predicted"))
    return out


def _world_person(p: Any, i: int) -> dict[str, Any]:
    where = f"persons[{i}]"
    out = _person_head(p, where, WORLD_PERSON_KEYS, WORLD_PERSON_ARRAYS)
    if not isinstance(p["single_view"], bool):
        raise SchemaError(f"{where}.single_view: expected true or false")
    tracks = p["tracks"]
    ok = isinstance(tracks, dict) and len(tracks) <= MAX_CAMERAS and all(isinstance(k, str) for k in tracks)
    if not ok:
        raise SchemaError(f"{where}.tracks: expected a map of stream -> track id")
    out["single_view"] = p["single_view"]
    out["tracks"] = {k: _num(tracks, k, f"{where}.tracks", int) for k in tracks}
    return out


def _camera_pose(c: Any, i: int) -> dict[str, Any]:
    where = f"cameras[{i}]"
    if not isinstance(c, dict) or any(k not in c for k in CAMERA_POSE_KEYS):
        raise SchemaError(f"{where}: must be a map with keys {list(CAMERA_POSE_KEYS)}")
    if not isinstance(c["name"], str) or not isinstance(c["stream"], str):
        raise SchemaError(f"{where}: name and stream must be strings")
    size = c["size"]
    if not (isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) and v >= 0 for v in size)):
        raise SchemaError(f"{where}.size: expected [width, height], ints >= 0")
    out = {"name": c["name"], "stream": c["stream"], "size": (size[0], size[1])}
    out.update({k: decode_array(c[k], f"{where}.{k}", shape) for k, shape in CAMERA_POSE_ARRAYS.items()})
    return out


def is_world(msg: dict[str, Any]) -> bool:
    """A message of the world stream (the fuse stage's), not of one camera."""
    return msg.get("kind") == WORLD


def validate(obj: dict[str, Any]) -> dict[str, Any]:
    """Raw map -> message with numpy arrays; SchemaError unless it is a valid v1 message (of a
    camera's stream, or of the world stream: `is_world`)."""
    if "kind" in obj and obj["kind"] not in (WORLD, "camera"):
        raise SchemaError(f"message.kind: expected 'camera' or 'world', got {obj['kind']!r}")
    if is_world(obj):
        return _validate_world(obj)
    missing = [k for k in TOP_KEYS if k not in obj]
    if missing:
        raise SchemaError(f"message: missing keys {missing}")
    msg = _header(obj)
    size = obj["image_size"]
    if not (isinstance(size, list) and len(size) == 2 and all(isinstance(s, int) and s > 0 for s in size)):
        raise SchemaError("message.image_size: expected [width, height], positive ints")
    msg.update(image_size=(size[0], size[1]), persons=[_person(p, i) for i, p in enumerate(obj["persons"])])
    return msg


def _header(obj: dict[str, Any]) -> dict[str, Any]:
    """The top-level fields every message has, checked (the persons' lists checked by length only)."""
    if type(obj["schema"]) is not int or obj["schema"] != SCHEMA_VERSION:  # true == 1 in Python
        raise SchemaError(f"message: schema {obj['schema']!r}, this decoder reads {SCHEMA_VERSION}")
    if not isinstance(obj["stream"], str):
        raise SchemaError("message.stream: expected a string")
    timings = obj["timings"]
    if not isinstance(timings, dict) or not all(isinstance(k, str) for k in timings):
        raise SchemaError("message.timings: expected a map of stage -> milliseconds")
    if not isinstance(obj["persons"], list) or len(obj["persons"]) > MAX_PERSONS:
        raise SchemaError(f"message.persons: expected a list of at most {MAX_PERSONS}")
    msg = dict(obj)
    msg.update({k: _num(obj, k, "message") for k in OPTIONAL_TOP_NUMBERS if k in obj})
    if "fps" in obj and msg["fps"] <= 0:
        raise SchemaError(f"message.fps: expected a positive frame rate, got {msg['fps']}")
    msg.update(frame=_num(obj, "frame", "message", int), t_capture=_num(obj, "t_capture", "message"),
               t_publish=_num(obj, "t_publish", "message"),
               timings={k: _num(timings, k, "message.timings") for k in timings})
    return msg


def _validate_world(obj: dict[str, Any]) -> dict[str, Any]:
    missing = [k for k in (*(k for k in TOP_KEYS if k != "image_size"), "cameras") if k not in obj]
    if missing:
        raise SchemaError(f"world message: missing keys {missing}")
    msg = _header(obj)
    cams = obj["cameras"]
    if not isinstance(cams, list) or len(cams) > MAX_CAMERAS:
        raise SchemaError(f"message.cameras: expected a list of at most {MAX_CAMERAS}")
    msg.update(cameras=[_camera_pose(c, i) for i, c in enumerate(cams)],
               persons=[_world_person(p, i) for i, p in enumerate(obj["persons"])])
    return msg


def decode(payload: bytes) -> dict[str, Any]:
    """msgpack bytes -> validated message with numpy float32 arrays (SchemaError if invalid)."""
    return validate(unpack(payload))


def printable(text: str) -> str:
    """`text` with every character a terminal would act on (controls, escapes, bidi marks) written
    as its Python escape: a stream name from the network cannot move the cursor or recolour."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def to_json(msg: dict[str, Any], decimals: int | None = 5) -> dict[str, Any]:
    """A decoded message as plain JSON values (arrays -> nested lists, rounded to `decimals`; None:
    exact, float32 values as the doubles they are), whatever extra keys it carries: bytes -> hex, a
    msgpack extension value (a Timestamp, say; schema 1 has none) -> its description as a string.
    `json.dumps` of the result never fails."""

    def conv(v: Any) -> Any:
        if isinstance(v, np.ndarray):
            a = v.astype(np.float64)
            return (a if decimals is None else np.round(a, decimals)).tolist()
        if isinstance(v, msgpack.ExtType | msgpack.Timestamp):
            return str(v)
        if isinstance(v, dict):
            return {k if isinstance(k, str) else str(conv(k)): conv(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [conv(x) for x in v]
        if isinstance(v, bytes):
            return v.hex()
        if v is None or isinstance(v, str | int | float):
            return v
        return str(v)

    return conv(msg)
