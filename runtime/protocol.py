"""The messages between the runtime's processes, declared in ONE place.

    capture --FrameNotice--> detect --Detections--> lift --Poses--> publish --Published--> annotate
    each of those channels also carries EndOfInput(stream) after a finite stream's last frame
    every stage --Control--> supervisor (ControlKind: ready, heartbeat, fatal, end of input, ...)

Every per-frame message carries three things besides wall-clock times: `t_media`, the frame's time
in the source itself (index / fps), which drives every filter and timeout in offline mode so that
a run does not depend on how fast it ran; `fps`, the source's frame rate (both are published: the
public message's `t_media` and `fps`); and `prev`, the index of the stream's previous frame the
capture sent, so the publish stage can tell a gap it must report (a lost frame) from frames the
source skipped as unreadable. EndOfInput carries the index of the stream's last frame (`last`).

Each message is a small frozen dataclass: `to_msg()` gives the msgpack map sent on the stage's
socket, `from_msg(map)` checks a received map and raises ProtocolError (naming the message and the
key) on anything malformed. These maps stay inside the runtime; the public pose message is
`runtime.wire.schema`'s, built here by `Poses.wire`. Also here: the counter names (`Count`) the
stages report and the supervisor adds up, and the order of the latency stages (`LATENCY_ORDER`)
the stats line and the pipeline benchmark use.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

import msgpack
import numpy as np

from camerapose.core.errors import CameraPoseError
from camerapose.core.skeleton import NUM_JOINTS
from camerapose.runtime.wire import schema


class ProtocolError(ValueError):
    """A malformed message between two runtime processes (a bug or mixed versions, not user input)."""


class Timing:
    """Keys of a message's `timings` (milliseconds), each added by the stage that measured it."""

    CAPTURE = "capture"  # capture: reading the frame + writing it into the ring
    WAIT_DETECT = "wait_detect"  # queued on `frames`
    DETECT = "detect"  # the detector's batch call
    WAIT_LIFT = "wait_lift"  # queued on `persons`
    LIFT = "lift"  # the lift stage's tick
    WAIT_PUBLISH = "wait_publish"  # queued on `poses`
    TOTAL = "total"  # glass-to-publish: t_publish - t_capture


# The latency stages in pipeline order: the stats line and the pipeline benchmark list them so.
LATENCY_ORDER = (
    Timing.CAPTURE,
    Timing.WAIT_DETECT,
    Timing.DETECT,
    Timing.WAIT_LIFT,
    Timing.LIFT,
    Timing.WAIT_PUBLISH,
    Timing.TOTAL,
)
# Heartbeat samples of the lift stage besides the timings: pose-model ms per tick, persons per tick.
INFER, BATCH = "infer", "batch"


class Count:
    """Names of the cumulative counters a stage sends in its heartbeats."""

    FRAMES = "frames"  # frames the stage passed on (publish: published)
    PERSONS = "persons"  # persons in them (detect, publish)
    DROPPED = "dropped"  # frames skipped for newer ones or lost from the ring (capture, detect, annotate)
    QUEUE_FULL = "queue_full"  # capture, live: `frames` was full, the frame was not sent
    CORRUPT = "corrupt"  # frames the source could not decode or the detector refused
    GARBAGE = "garbage"  # publish: peer messages that were not subscriptions


# ZMQ_MAXMSGSIZE of every socket between the runtime's processes: a peer sending a bigger frame is
# disconnected before ZeroMQ allocates it. The largest real message, a frame's Poses or Published
# with schema.MAX_PERSONS persons, is about 0.24 MB: far below.
MAX_MESSAGE_BYTES = 4 * schema.MAX_MESSAGE_BYTES


def pack(msg: dict[str, Any]) -> bytes:
    return msgpack.packb(msg, use_bin_type=True)


def unpack(data: bytes) -> dict[str, Any]:
    """msgpack bytes -> map; ProtocolError if they are not a msgpack map."""
    try:
        obj = msgpack.unpackb(data, raw=False)
    except Exception as err:  # msgpack raises several types (ExtraData, FormatError, ValueError...)
        raise ProtocolError(f"not msgpack ({type(err).__name__})") from None
    if not isinstance(obj, dict):
        raise ProtocolError(f"expected a map, got {type(obj).__name__}")
    return obj


# -- checks ----------------------------------------------------------------------------------------
def _get(m: Any, key: str, kind: type, where: str) -> Any:
    """m[key] if it is a `kind` (float takes int too; bool is never a number)."""
    if not isinstance(m, dict):
        raise ProtocolError(f"{where}: expected a map, got {type(m).__name__}")
    if key not in m:
        raise ProtocolError(f"{where}: missing {key!r}")
    v = m[key]
    kinds = (int, float) if kind is float else (kind,)
    if not isinstance(v, kinds) or (isinstance(v, bool) and kind is not bool):
        raise ProtocolError(f"{where}.{key}: expected {kind.__name__}, got {type(v).__name__}")
    return v


def _size(m: dict[str, Any], key: str, where: str) -> tuple[int, int]:
    """[width, height] -> (width, height), both positive ints."""
    v = _get(m, key, list, where)
    if len(v) != 2 or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in v):
        raise ProtocolError(f"{where}.{key}: expected [width, height], positive ints, got {v!r}")
    return v[0], v[1]


def _numbers(m: dict[str, Any], key: str, where: str, kind: type = float) -> dict[str, Any]:
    """A map name -> number (kind int: ints only)."""
    v = _get(m, key, dict, where)
    for k in v:
        if not isinstance(k, str):
            raise ProtocolError(f"{where}.{key}: keys must be strings, got {k!r}")
        _get(v, k, kind, f"{where}.{key}")
    return v


def _sample_lists(m: dict[str, Any], key: str, where: str) -> dict[str, list[float]]:
    """A map name -> list of numbers (heartbeat samples)."""
    v = _get(m, key, dict, where)
    for k, xs in v.items():
        if not isinstance(k, str) or not isinstance(xs, list):
            raise ProtocolError(f"{where}.{key}: expected name -> list of numbers, got {k!r}")
        for x in xs:
            if not isinstance(x, int | float) or isinstance(x, bool):
                raise ProtocolError(f"{where}.{key}.{k}: expected numbers, got {type(x).__name__}")
    return v


def _array(m: dict[str, Any], key: str, shape: tuple[int, ...], where: str) -> np.ndarray:
    try:
        return schema.decode_array(m.get(key), f"{where}.{key}", shape)
    except schema.SchemaError as err:
        raise ProtocolError(str(err)) from None


# -- data channels ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class EndOfInput:
    """A finite stream has ended: passed down every data channel after its last frame, whose index
    is `last` (-1: the stream gave no frame)."""

    stream: str
    last: int = -1

    def to_msg(self) -> dict[str, Any]:
        return {"eof": True, "stream": self.stream, "last": self.last}

    @classmethod
    def from_msg(cls, m: dict[str, Any]) -> EndOfInput:
        return cls(_get(m, "stream", str, "end of input"), _get(m, "last", int, "end of input"))


@dataclass(frozen=True)
class FrameNotice:
    """capture -> detect: frame `frame` of `stream` is in its ring (generation `gen`)."""

    stream: str
    frame: int
    gen: int
    t_capture: float  # CLOCK_MONOTONIC s when the frame was grabbed
    t_wall: float  # time.time() then
    size: tuple[int, int]  # (width, height)
    read_ms: float  # reading it + writing it into the ring
    t_sent: float = 0.0  # monotonic s, stamped when sent
    t_media: float = 0.0  # s in the source's own time: frame index / fps
    prev: int = -1  # the index of the stream's previous frame the capture sent (-1: none)
    fps: float = 0.0  # the source's frame rate (Source.fps); 0: unknown, not published

    def to_msg(self) -> dict[str, Any]:
        return {
            "stream": self.stream,
            "frame": self.frame,
            "gen": self.gen,
            "t_capture": self.t_capture,
            "t_wall": self.t_wall,
            "size": list(self.size),
            "read_ms": self.read_ms,
            "t_sent": self.t_sent,
            "t_media": self.t_media,
            "prev": self.prev,
            "fps": self.fps,
        }

    @classmethod
    def from_msg(cls, m: dict[str, Any]) -> FrameNotice:
        w = "frame notice"
        return cls(
            _get(m, "stream", str, w),
            _get(m, "frame", int, w),
            _get(m, "gen", int, w),
            _get(m, "t_capture", float, w),
            _get(m, "t_wall", float, w),
            _size(m, "size", w),
            _get(m, "read_ms", float, w),
            _get(m, "t_sent", float, w),
            _get(m, "t_media", float, w),
            _get(m, "prev", int, w),
            _get(m, "fps", float, w),
        )


@dataclass(frozen=True, eq=False)
class DetectedPerson:
    """One person of a Detections message; arrays float32, pixels."""

    id: int
    score: float
    box: np.ndarray  # (4,) x0, y0, x1, y1
    kp2d: np.ndarray  # (17, 2)
    conf: np.ndarray  # (17,)
    det3d: np.ndarray | None = None  # (17, 3) the detector's own 3D, when lift fuses or publish sends it

    def to_msg(self) -> dict[str, Any]:
        out = {
            "id": self.id,
            "score": self.score,
            "box": schema.encode_array(self.box),
            "kp2d": schema.encode_array(self.kp2d),
            "conf": schema.encode_array(self.conf),
        }
        if self.det3d is not None:
            out["det3d"] = schema.encode_array(self.det3d)
        return out

    @classmethod
    def from_msg(cls, m: dict[str, Any], where: str = "person") -> DetectedPerson:
        return cls(
            _get(m, "id", int, where),
            _get(m, "score", float, where),
            _array(m, "box", (4,), where),
            _array(m, "kp2d", (NUM_JOINTS, 2), where),
            _array(m, "conf", (NUM_JOINTS,), where),
            _array(m, "det3d", (NUM_JOINTS, 3), where) if "det3d" in m else None,
        )


def _frame_header(msg: Detections | Poses) -> dict[str, Any]:
    """The fields every per-frame message after detect carries, as a map."""
    return {"stream": msg.stream, "frame": msg.frame, "t_capture": msg.t_capture, "t_wall": msg.t_wall,
            "size": list(msg.size), "timings": msg.timings, "dropped": msg.dropped,
            "t_sent": msg.t_sent, "t_media": msg.t_media, "prev": msg.prev, "fps": msg.fps}


def _read_frame_header(m: dict[str, Any], w: str) -> dict[str, Any]:
    """`_frame_header`'s fields read back and checked, as the dataclass's keyword arguments."""
    return {"stream": _get(m, "stream", str, w), "frame": _get(m, "frame", int, w),
            "t_capture": _get(m, "t_capture", float, w), "t_wall": _get(m, "t_wall", float, w),
            "size": _size(m, "size", w), "timings": _numbers(m, "timings", w),
            "dropped": _get(m, "dropped", int, w), "t_sent": _get(m, "t_sent", float, w),
            "t_media": _get(m, "t_media", float, w), "prev": _get(m, "prev", int, w),
            "fps": _get(m, "fps", float, w)}


@dataclass(frozen=True)
class Detections:
    """detect -> lift: one frame's persons, with the timings so far and the drops so far."""

    stream: str
    frame: int
    t_capture: float
    t_wall: float
    size: tuple[int, int]
    timings: dict[str, float]  # Timing.CAPTURE, WAIT_DETECT, DETECT
    dropped: int  # the detect stage's cumulative drops
    persons: tuple[DetectedPerson, ...]  # sorted by id
    t_sent: float = 0.0
    t_media: float = 0.0  # FrameNotice's
    prev: int = -1  # FrameNotice's, or an earlier one's when the detector refused the frames between
    fps: float = 0.0  # FrameNotice's

    def to_msg(self) -> dict[str, Any]:
        return {**_frame_header(self), "persons": [p.to_msg() for p in self.persons]}

    @classmethod
    def from_msg(cls, m: dict[str, Any]) -> Detections:
        w = "detections"
        persons = _get(m, "persons", list, w)
        return cls(
            persons=tuple(DetectedPerson.from_msg(p, f"{w}.persons[{i}]") for i, p in enumerate(persons)),
            **_read_frame_header(m, w),
        )


@dataclass(frozen=True)
class Poses:
    """lift -> (fuse ->) publish: one frame's lifted persons (wire maps, `schema.person`), not yet
    published; or, of kind "world", the fuse stage's world frame (`schema.world_person` maps and
    the cameras, `schema.camera_pose`)."""

    stream: str
    frame: int
    t_capture: float
    t_wall: float
    size: tuple[int, int]
    timings: dict[str, float]  # up to Timing.LIFT
    dropped: int
    persons: tuple[dict[str, Any], ...]  # sorted by id
    t_sent: float = 0.0
    t_media: float = 0.0
    prev: int = -1  # Detections'
    fps: float = 0.0  # Detections'
    kind: str = "camera"  # or schema.WORLD
    cameras: tuple[dict[str, Any], ...] = ()  # the world's cameras (`schema.camera_pose`)

    def to_msg(self) -> dict[str, Any]:
        return {**_frame_header(self), "persons": list(self.persons), "kind": self.kind,
                "cameras": list(self.cameras)}

    @classmethod
    def from_msg(cls, m: dict[str, Any]) -> Poses:
        w = "poses"
        persons = _get(m, "persons", list, w)
        kind = _get(m, "kind", str, w)
        if kind not in ("camera", schema.WORLD):
            raise ProtocolError(f"{w}.kind: expected camera or world, got {kind!r}")
        keys = schema.WORLD_PERSON_KEYS if kind == schema.WORLD else schema.PERSON_KEYS
        for i, p in enumerate(persons):
            if not isinstance(p, dict) or any(k not in p for k in keys):
                raise ProtocolError(f"{w}.persons[{i}]: must be a map with keys {list(keys)}")
        cameras = _get(m, "cameras", list, w)
        return cls(persons=tuple(persons), kind=kind, cameras=tuple(cameras), **_read_frame_header(m, w))

    def wire(self, t_publish: float, timings: dict[str, float]) -> dict[str, Any]:
        """The public pose message (schema v1 map, arrays encoded), its keys in the documented order;
        `t_media` and `fps` only where the source's rate is known (fps > 0)."""
        media = {"t_media": self.t_media, "fps": self.fps} if self.fps > 0 else {}
        world = self.kind == schema.WORLD
        return {
            "schema": schema.SCHEMA_VERSION,
            **({"kind": schema.WORLD} if world else {}),
            "stream": self.stream,
            "frame": self.frame,
            "t_capture": self.t_capture,
            "t_wall": self.t_wall,
            "t_publish": t_publish,
            **media,
            **({"cameras": list(self.cameras)} if world else {"image_size": list(self.size)}),
            "timings": timings,
            "dropped": self.dropped,
            "persons": list(self.persons),
        }


@dataclass(frozen=True)
class Published:
    """publish -> annotate: a published message, as the bytes subscribers got."""

    payload: bytes

    def to_msg(self) -> dict[str, Any]:
        return {"payload": self.payload}

    @classmethod
    def from_msg(cls, m: dict[str, Any]) -> Published:
        return cls(_get(m, "payload", bytes, "published"))


# What each data channel carries (besides EndOfInput).
CHANNELS: dict[str, type] = {
    "frames": FrameNotice,
    "persons": Detections,
    "lifted": Poses,  # lift -> fuse, when the run fuses several cameras
    "poses": Poses,
    "annotate": Published,
}


def from_channel(channel: str, m: dict[str, Any]) -> Any:
    """A map received on a data channel -> its message, or EndOfInput."""
    if not isinstance(m, dict):
        raise ProtocolError(f"{channel}: expected a map, got {type(m).__name__}")
    if m.get("eof") is True:
        return EndOfInput.from_msg(m)
    return CHANNELS[channel].from_msg(m)


# -- control ---------------------------------------------------------------------------------------
class ControlKind(enum.Enum):
    """What a stage tells the supervisor (the value is the `type` on the wire)."""

    READY = "ready"  # models loaded, sockets bound: the captures may start
    HEARTBEAT = "hb"  # alive; cumulative counters + latency samples since the last heartbeat
    FATAL = "fatal"  # a user-caused error: the run stops with its one line
    END_OF_INPUT = "eof"  # the final stage has handled a finite stream's last frame
    SOURCE_END = "source_end"  # a capture's source has no more frames
    SUBSCRIBER = "subscriber"  # publish: a subscription arrived
    LOST = "lost"  # publish, offline mode: frames first..last of a stream will never be published


# The fields each kind carries (beyond kind, stage, pid), with their checks.
_CHECKS = {
    "stream": lambda m, k, w: _get(m, k, str, w),
    "backend": lambda m, k, w: _get(m, k, str, w),
    "counters": lambda m, k, w: _numbers(m, k, w, int),
    "samples": _sample_lists,
    "error": lambda m, k, w: _get(m, k, str, w),
    "error_kind": lambda m, k, w: _get(m, k, str, w),
    "subscribers": lambda m, k, w: _get(m, k, int, w),
    "first": lambda m, k, w: _get(m, k, int, w),
    "last": lambda m, k, w: _get(m, k, int, w),
}
_FIELDS: dict[ControlKind, tuple[str, ...]] = {
    ControlKind.READY: ("backend",),
    ControlKind.HEARTBEAT: ("counters", "samples"),
    ControlKind.FATAL: ("error", "error_kind"),
    ControlKind.END_OF_INPUT: ("stream",),
    ControlKind.SOURCE_END: ("stream",),
    ControlKind.SUBSCRIBER: ("subscribers",),
    ControlKind.LOST: ("stream", "first", "last"),
}


@dataclass(frozen=True)
class Control:
    """stage -> supervisor. Only the fields of its kind (`_FIELDS`) travel."""

    kind: ControlKind
    stage: str  # the sender's StageSpec.name
    pid: int  # its process id: the supervisor ignores messages from a previous life
    stream: str = ""  # END_OF_INPUT, SOURCE_END, LOST
    backend: str = ""  # READY: the lift stage's pose-model backend ("" for the others)
    counters: dict[str, int] = field(default_factory=dict)  # HEARTBEAT: cumulative, Count names
    samples: dict[str, list[float]] = field(default_factory=dict)  # HEARTBEAT: since the last one
    error: str = ""  # FATAL: the one line
    error_kind: str = ""  # FATAL: its CameraPoseError class name
    subscribers: int = 0  # SUBSCRIBER: subscriptions seen so far
    first: int = 0  # LOST: the first and last index of the frames lost
    last: int = 0

    @classmethod
    def fatal(cls, stage: str, pid: int, err: CameraPoseError) -> Control:
        return cls(ControlKind.FATAL, stage, pid, error=str(err), error_kind=type(err).__name__)

    def to_msg(self) -> dict[str, Any]:
        out = {"type": self.kind.value, "stage": self.stage, "pid": self.pid}
        out.update({k: getattr(self, k) for k in _FIELDS[self.kind]})
        return out

    @classmethod
    def from_msg(cls, m: dict[str, Any]) -> Control:
        kind_value = _get(m, "type", str, "control")
        try:
            kind = ControlKind(kind_value)
        except ValueError:
            raise ProtocolError(f"control.type: unknown {kind_value!r}") from None
        w = f"control {kind_value}"
        stage, pid = _get(m, "stage", str, w), _get(m, "pid", int, w)
        return cls(kind, stage, pid, **{k: _CHECKS[k](m, k, w) for k in _FIELDS[kind]})
