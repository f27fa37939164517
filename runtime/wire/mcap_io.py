"""MCAP recordings of the pose stream: what robotics tools (Foxglove, ROS 2's rosbag2, the `mcap`
package) open, beside our own `.cprec`.

One channel per topic (`pose.<stream>`; the world stream's is `pose.world`), message encoding "json"
with a JSON-schema (`SCHEMA`, named `camerapose.Pose`, which describes both kinds of message): each
message is the decoded pose message exactly as `camerapose subscribe --json` prints it but
unrounded (arrays as nested lists; float32 values written as the doubles they are, so reading them
back as float32 is exact). Log time = seconds
since the first message (the recording's own clock, as `.cprec` keeps it), in nanoseconds.

Reading back (`read_mcap`) gives (t, topic, payload) like `record.read_recording`: the payload is
re-encoded to the wire's msgpack, so `replay` publishes, and `convert` decodes, the same messages
as from the `.cprec` of the same run. Needs the `mcap` package (the `files` extra).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from camerapose.core.errors import InputError, write_failed
from camerapose.runtime.wire import schema
from camerapose.runtime.wire.json_map import wire_map

MAGIC = b"\x89MCAP0\r\n"
SCHEMA_NAME = "camerapose.Pose"
_ARRAY = {"type": "array", "items": {"anyOf": [{"type": "number"}, {"type": "array"}]}}
SCHEMA = {
    "title": SCHEMA_NAME,
    "description": "One CameraPose message (docs/schema.md), arrays as nested lists",
    "type": "object",
    "properties": {
        "schema": {"type": "integer"}, "stream": {"type": "string"}, "frame": {"type": "integer"},
        "t_capture": {"type": "number"}, "t_publish": {"type": "number"}, "t_wall": {"type": "number"},
        "t_media": {"type": "number"}, "fps": {"type": "number"},
        "kind": {"type": "string", "enum": ["camera", "world"]},
        "image_size": {"type": "array", "items": {"type": "integer"}},
        "cameras": {"type": "array", "items": {"type": "object", "properties": {
            "name": {"type": "string"}, "stream": {"type": "string"}, "K": _ARRAY, "R": _ARRAY, "t": _ARRAY,
            "size": {"type": "array", "items": {"type": "integer"}}}}},
        "timings": {"type": "object", "additionalProperties": {"type": "number"}},
        "persons": {"type": "array", "items": {"type": "object", "properties": {
            "id": {"type": "integer"}, "score": {"type": "number"}, "box": _ARRAY, "kp2d": _ARRAY,
            "conf": _ARRAY, "kp3d": _ARRAY, "kp3d_teacher": _ARRAY,
            "camera": {"type": "object", "properties": {
                "fx": {"type": "number"}, "fy": {"type": "number"}, "cx": {"type": "number"},
                "cy": {"type": "number"}, "t": _ARRAY, "source": {"type": "string"}}},
            "views": _ARRAY, "reproj_px": _ARRAY, "single_view": {"type": "boolean"},
            "tracks": {"type": "object", "additionalProperties": {"type": "integer"}}}}},
    },
}


def _mcap() -> Any:
    try:
        import mcap.reader
        import mcap.writer
    except ImportError:
        raise InputError("MCAP files need the mcap package: pip install 'camerapose[files]'") from None
    return mcap


def is_mcap(path: str | Path) -> bool:
    """Whether the file starts with MCAP's magic (False when it cannot be read)."""
    try:
        with open(path, "rb") as f:
            return f.read(len(MAGIC)) == MAGIC
    except OSError:
        return False


class McapRecorder:
    """`write(t, topic, payload)` in time order, then `close()` (which writes the index: a file
    not closed still reads, sequentially)."""

    def __init__(self, path: str | Path) -> None:
        mcap = _mcap()
        self.path = Path(path)
        try:
            self.file = open(self.path, "wb")
        except OSError as err:
            raise InputError(f"{path}: cannot write the recording ({err.strerror})") from None
        self.writer = mcap.writer.Writer(self.file)
        self.writer.start(profile="", library="camerapose")
        self.schema_id = self.writer.register_schema(SCHEMA_NAME, "jsonschema", json.dumps(SCHEMA).encode())
        self.channels: dict[bytes, int] = {}

    def write(self, t: float, topic: bytes, payload: bytes) -> None:
        """One message as received: t seconds since the first, its two ZeroMQ frames."""
        self.write_decoded(t, topic, schema.decode(payload))

    def write_decoded(self, t: float, topic: bytes, decoded: dict[str, Any]) -> None:
        """One decoded message (`schema.decode`) at t seconds on `topic`."""
        msg = schema.to_json(decoded, decimals=None)
        if topic not in self.channels:
            self.channels[topic] = self.writer.register_channel(
                topic.decode("utf-8", "replace"), "json", self.schema_id)
        ns = round(t * 1e9)
        try:
            self.writer.add_message(self.channels[topic], ns, json.dumps(msg).encode(), ns)
        except OSError as err:
            raise write_failed(self.path, err) from None

    def close(self) -> None:
        try:
            self.writer.finish()
        except OSError as err:
            raise write_failed(self.path, err) from None
        finally:
            self.file.close()


def read_mcap(path: str | Path) -> Iterator[tuple[float, bytes, bytes]]:
    """(t seconds, topic, wire payload) of every pose message of an MCAP file, in log-time order;
    InputError for a file that is not one, or a message that is not a pose message."""
    mcap = _mcap()
    try:
        f = open(path, "rb")
    except OSError as err:
        raise InputError(f"{path}: cannot open ({err.strerror})") from None
    with f:
        try:
            reader = mcap.reader.make_reader(f)
            for n, (sch, channel, message) in enumerate(reader.iter_messages(log_time_order=True)):
                if sch is None or sch.name != SCHEMA_NAME or channel.message_encoding != "json":
                    continue  # another tool's channel in the same file
                try:
                    raw = wire_map(json.loads(message.data))
                except (ValueError, schema.SchemaError) as err:
                    raise InputError(f"{path}: message {n + 1}: {err}") from None
                yield message.log_time / 1e9, channel.topic.encode(), schema.pack(raw)
        except InputError:
            raise
        except Exception as err:  # the mcap reader raises several types for a corrupt file
            raise InputError(f"{path}: not a readable MCAP file ({type(err).__name__}: {err})") from None
