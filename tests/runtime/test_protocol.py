"""The messages between the runtime's processes: every one survives its trip through msgpack, and a
malformed one is a ProtocolError naming what is wrong, never a KeyError inside a stage."""

from __future__ import annotations

import re

import numpy as np
import pytest

from camerapose.core.errors import ModelError
from camerapose.runtime.protocol import (
    LATENCY_ORDER,
    Control,
    ControlKind,
    DetectedPerson,
    Detections,
    EndOfInput,
    FrameNotice,
    Poses,
    ProtocolError,
    Published,
    from_channel,
    pack,
    unpack,
)
from camerapose.runtime.wire import schema

from .test_schema import make_message


def trip(channel: str, msg: object) -> object:
    """msg -> bytes on `channel` -> the message the receiving stage gets."""
    return from_channel(channel, unpack(pack(msg.to_msg())))


def notice(**kw: object) -> FrameNotice:
    base = dict(stream="cam", frame=4, gen=2, t_capture=10.0, t_wall=1.7e9, size=(640, 480), read_ms=3.5)
    return FrameNotice(**{**base, **kw})


def person(rng: np.random.Generator, world: bool = False) -> DetectedPerson:
    return DetectedPerson(
        3,
        0.8,
        rng.random(4).astype(np.float32),
        (rng.random((17, 2)) * 100).astype(np.float32),
        rng.random(17).astype(np.float32),
        rng.random((17, 3)).astype(np.float32) if world else None,
    )


def test_frame_notice_round_trip_keeps_every_field() -> None:
    sent = notice(t_sent=10.01)
    assert trip("frames", sent) == sent


def test_end_of_input_travels_on_every_data_channel() -> None:
    for channel in ("frames", "persons", "poses", "annotate"):
        assert trip(channel, EndOfInput("cam")) == EndOfInput("cam")
        assert trip(channel, EndOfInput("cam", 59)).last == 59  # the stream's last frame


def test_every_frame_message_carries_its_time_in_the_video_and_the_previous_frame_on() -> None:
    sent = notice(t_media=1.5, prev=3)
    assert trip("frames", sent) == sent and (sent.t_media, sent.prev) == (1.5, 3)
    det = Detections("cam", 4, 10.0, 1.7e9, (64, 48), {}, 0, (), 10.01, t_media=1.5, prev=2)
    got = trip("persons", det)
    assert (got.t_media, got.prev, got.t_sent) == (1.5, 2, 10.01)
    poses = Poses("cam", 4, 10.0, 1.7e9, (64, 48), {}, 0, (), 10.02, t_media=1.5, prev=2)
    assert trip("poses", poses) == poses
    assert "t_media" not in poses.wire(10.05, {}) and "prev" not in poses.wire(10.05, {})  # rate unknown


def test_the_source_frame_rate_travels_from_capture_to_the_public_message() -> None:
    assert trip("frames", notice(t_media=0.16, fps=25.0)).fps == 25.0
    det = Detections("cam", 4, 10.0, 1.7e9, (64, 48), {}, 0, (), 10.01, t_media=0.16, prev=3, fps=25.0)
    assert trip("persons", det).fps == 25.0
    poses = Poses("cam", 4, 10.0, 1.7e9, (64, 48), {}, 0, (), 10.02, t_media=0.16, prev=3, fps=25.0)
    assert trip("poses", poses) == poses
    wire = poses.wire(10.05, {})
    assert list(wire)[5:8] == ["t_publish", "t_media", "fps"]  # the documented order
    decoded = schema.decode(schema.pack(wire))
    assert (decoded["t_media"], decoded["fps"]) == (0.16, 25.0)


def test_detections_round_trip_keeps_arrays_and_the_optional_3d(rng: np.random.Generator) -> None:
    with_3d, without = person(rng, world=True), person(rng)
    sent = Detections("cam", 4, 10.0, 1.7e9, (640, 480), {"capture": 1.0}, 2, (with_3d, without), 10.02)
    got = trip("persons", sent)
    assert (got.stream, got.frame, got.size, got.timings, got.dropped, got.t_sent) == (
        "cam", 4, (640, 480), {"capture": 1.0}, 2, 10.02,
    )
    for a, b in zip(got.persons, sent.persons, strict=True):
        assert (a.id, a.score) == (b.id, b.score)
        np.testing.assert_array_equal(a.kp2d, b.kp2d)
        np.testing.assert_array_equal(a.conf, b.conf)
        np.testing.assert_array_equal(a.box, b.box)
    np.testing.assert_array_equal(got.persons[0].det3d, with_3d.det3d)
    assert got.persons[1].det3d is None and "det3d" not in without.to_msg()


def test_poses_round_trip_and_wire_map_is_a_valid_schema_v1_message(rng: np.random.Generator) -> None:
    persons = tuple(make_message(rng)["persons"])
    sent = Poses("cam", 4, 10.0, 1.7e9, (640, 480), {"capture": 1.0, "lift": 2.0}, 1, persons, 10.03)
    got = trip("poses", sent)
    assert got == sent
    wire = got.wire(10.05, {**got.timings, "total": 50.0})
    assert list(wire) == ["schema", "stream", "frame", "t_capture", "t_wall", "t_publish", "image_size",
                          "timings", "dropped", "persons"]
    decoded = schema.decode(schema.pack(wire))
    assert decoded["t_publish"] == 10.05 and decoded["image_size"] == (640, 480)
    assert len(decoded["persons"]) == 2 and decoded["timings"]["total"] == 50.0


def test_published_round_trip_keeps_the_payload_bytes() -> None:
    assert trip("annotate", Published(b"\x00\x01payload")) == Published(b"\x00\x01payload")


@pytest.mark.parametrize(
    "msg",
    [
        Control(ControlKind.READY, "lift", 11, backend="onnxruntime"),
        Control(ControlKind.READY, "detect", 12),
        Control(ControlKind.HEARTBEAT, "publish", 13, counters={"frames": 5}, samples={"total": [1.5, 2]}),
        Control.fatal("capture:cam", 14, ModelError("model.onnx is broken")),
        Control(ControlKind.END_OF_INPUT, "publish", 15, stream="cam"),
        Control(ControlKind.SOURCE_END, "capture:cam", 16, stream="cam"),
        Control(ControlKind.SUBSCRIBER, "publish", 17, subscribers=2),
        Control(ControlKind.LOST, "publish", 18, stream="cam", first=12, last=19),
    ],
    ids=lambda m: m.kind.name,
)
def test_every_control_kind_round_trips(msg: Control) -> None:
    assert Control.from_msg(unpack(pack(msg.to_msg()))) == msg


def test_fatal_carries_the_error_line_and_class_name() -> None:
    msg = Control.fatal("lift", 1, ModelError("pose.onnx: wrong inputs"))
    assert (msg.error, msg.error_kind) == ("pose.onnx: wrong inputs", "ModelError")


def test_only_the_fields_of_a_kind_travel() -> None:
    assert set(Control(ControlKind.SOURCE_END, "capture:a", 1, stream="a").to_msg()) == {
        "type", "stage", "pid", "stream",
    }


@pytest.mark.parametrize(
    ("channel", "raw", "says"),
    [
        ("frames", {"stream": "cam", "frame": 1}, "missing 'gen'"),
        ("frames", {**notice().to_msg(), "frame": "1"}, "frame notice.frame: expected int, got str"),
        ("frames", {**notice().to_msg(), "frame": True}, "expected int, got bool"),
        ("frames", {**notice().to_msg(), "size": [640]}, "size: expected [width, height]"),
        ("frames", {"eof": True}, "end of input: missing 'stream'"),
        ("frames", {"eof": True, "stream": "cam"}, "end of input: missing 'last'"),
        ("frames", {k: v for k, v in notice().to_msg().items() if k != "prev"},
         "frame notice: missing 'prev'"),
        ("poses", {**Poses("c", 1, 0.0, 0.0, (4, 4), {}, 0, ()).to_msg(), "t_media": "0"},
         "poses.t_media: expected float, got str"),
        ("persons", {**Detections("c", 1, 0.0, 0.0, (4, 4), {}, 0, ()).to_msg(), "timings": {"x": "1"}},
         "detections.timings.x: expected float, got str"),
        ("persons", {**Detections("c", 1, 0.0, 0.0, (4, 4), {}, 0, ()).to_msg(), "persons": [{"id": 1}]},
         "detections.persons[0]: missing 'score'"),
        ("poses", {**Poses("c", 1, 0.0, 0.0, (4, 4), {}, 0, ()).to_msg(), "persons": [{"id": 1}]},
         "poses.persons[0]: must be a map"),
        ("annotate", {"payload": "text"}, "published.payload: expected bytes"),
    ],
)
def test_malformed_data_messages_are_protocol_errors_naming_the_key(
    channel: str, raw: dict, says: str
) -> None:
    with pytest.raises(ProtocolError, match=re.escape(says)):
        from_channel(channel, raw)


def test_person_arrays_of_the_wrong_shape_are_protocol_errors(rng: np.random.Generator) -> None:
    raw = person(rng).to_msg()
    raw["kp2d"] = schema.encode_array(np.zeros((16, 2)))
    with pytest.raises(ProtocolError, match=r"person\.kp2d: shape \[16, 2\]"):
        DetectedPerson.from_msg(raw)


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ({"type": "hello", "stage": "x", "pid": 1}, "unknown 'hello'"),
        ({"type": "ready", "pid": 1}, "missing 'stage'"),
        ({"type": "hb", "stage": "x", "pid": 1, "counters": {"frames": 1}}, "missing 'samples'"),
        ({"type": "hb", "stage": "x", "pid": 1, "counters": {"frames": 1.5}, "samples": {}},
         "counters.frames: expected int"),
        ({"type": "hb", "stage": "x", "pid": 1, "counters": {}, "samples": {"total": ["1"]}},
         "samples.total: expected numbers"),
        ({"type": "eof", "stage": "x", "pid": 1}, "missing 'stream'"),
    ],
)
def test_malformed_control_messages_are_protocol_errors(raw: dict, says: str) -> None:
    with pytest.raises(ProtocolError, match=re.escape(says)):
        Control.from_msg(raw)


def test_bytes_that_are_not_a_msgpack_map_are_protocol_errors() -> None:
    with pytest.raises(ProtocolError, match="not msgpack"):
        unpack(b"\xc1")
    with pytest.raises(ProtocolError, match="expected a map"):
        unpack(pack([1, 2]))  # type: ignore[arg-type]


def test_latency_order_follows_the_pipeline() -> None:
    assert LATENCY_ORDER == ("capture", "wait_detect", "detect", "wait_lift", "lift", "wait_publish", "total")
