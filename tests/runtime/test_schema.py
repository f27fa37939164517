"""The wire schema: round trip, and strict rejection of truncated or hostile payloads."""

from __future__ import annotations

import msgpack
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from camerapose.runtime.wire import schema
from camerapose.runtime.wire.schema import SchemaError


def make_message(rng: np.random.Generator, persons: int = 2) -> dict:
    ps = [
        schema.person(
            i + 1,
            0.9,
            rng.random(4),
            rng.random((17, 2)) * 100,
            rng.random(17),
            rng.random((17, 3)) + [0, 0, 3],
            1000.0,
            1001.0,
            640.0,
            360.0,
            np.array([0.1, 0.2, 3.0]),
        )
        for i in range(persons)
    ]
    return {
        "schema": 1,
        "stream": "cam",
        "frame": 7,
        "t_capture": 10.0,
        "t_publish": 10.02,
        "t_wall": 1.7e9,
        "image_size": [1280, 720],
        "timings": {"detect": 12.5, "total": 20.0},
        "dropped": 0,
        "persons": ps,
    }


def test_round_trip_keeps_arrays_bit_exact(rng: np.random.Generator) -> None:
    raw = make_message(rng)
    msg = schema.decode(schema.pack(raw))
    assert msg["frame"] == 7 and msg["image_size"] == (1280, 720) and len(msg["persons"]) == 2
    p = msg["persons"][1]
    assert p["kp3d"].dtype == np.float32 and p["kp3d"].shape == (17, 3)
    np.testing.assert_array_equal(p["kp3d"], schema.decode_array(raw["persons"][1]["kp3d"], "x"))
    assert p["camera"]["fx"] == 1000.0 and p["camera"]["t"].tolist() == pytest.approx([0.1, 0.2, 3.0])


def test_array_bytes_are_little_endian_float32_c_order() -> None:
    a = np.arange(6, dtype=np.float64).reshape(2, 3)
    enc = schema.encode_array(a)
    assert enc["dtype"] == "<f4" and enc["shape"] == [2, 3]
    assert enc["data"] == np.arange(6, dtype="<f4").tobytes()


def test_every_truncation_of_a_valid_payload_is_a_schema_error(rng: np.random.Generator) -> None:
    payload = schema.pack(make_message(rng, persons=1))
    for n in range(0, len(payload), 7):
        with pytest.raises(SchemaError):
            schema.decode(payload[:n])


@pytest.mark.parametrize(
    "mutate, why",
    [
        (lambda m: m.pop("persons"), "missing keys"),
        (lambda m: m.update(schema=2), "schema 2"),
        (lambda m: m.update(schema=True), "schema True"),  # true == 1 in Python, not on the wire
        (lambda m: m.update(schema=1.0), "schema 1.0"),
        (lambda m: m.update(frame="7"), "frame"),
        (lambda m: m.update(t_capture=float("nan")), "t_capture"),
        (lambda m: m.update(image_size=[0, 720]), "image_size"),
        (lambda m: m["persons"][0]["kp3d"].update(shape=[17, 2]), "shape"),
        (lambda m: m["persons"][0]["kp3d"].update(dtype="<f8"), "dtype"),
        (lambda m: m["persons"][0]["kp3d"].update(shape=[1 << 19, -1]), "bad shape"),
        (lambda m: m["persons"][0]["kp2d"].update(data=b"\0" * 10), "bytes"),
        (lambda m: m["persons"][0]["camera"].pop("fx"), "camera"),
        (lambda m: m.update(persons=[{}] * 300), "at most"),
        (lambda m: m.update(frame=2**63), r"frame: expected an integer in \[0, 2\^53\]"),  # crashed convert
        (lambda m: m["persons"][0].update(id=-1), "id: expected an integer"),
        (lambda m: m.update(fps=0.0), "fps: expected a positive frame rate"),
        (lambda m: m.update(fps=-30.0), "fps: expected a positive frame rate"),
        (lambda m: m.update(fps=float("inf")), "fps: expected a finite float"),
        (lambda m: m.update(fps="30"), "fps: expected a finite float"),
        (lambda m: m.update(t_media=float("nan")), "t_media: expected a finite float"),
        (lambda m: m.update(t_media=True), "t_media: expected a finite float"),
    ],
)
def test_hostile_fields_are_rejected_with_a_clear_reason(rng: np.random.Generator, mutate, why: str) -> None:
    raw = make_message(rng)
    mutate(raw)
    with pytest.raises(SchemaError, match=why):
        schema.decode(msgpack.packb(raw, use_bin_type=True))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=512))
def test_random_bytes_never_raise_anything_but_schema_error(data: bytes) -> None:
    try:
        schema.decode(data)
    except SchemaError:
        pass


def test_unknown_extra_keys_are_kept_for_forward_compatibility(rng: np.random.Generator) -> None:
    raw = make_message(rng)
    raw["future_field"] = {"x": 1}
    assert schema.decode(schema.pack(raw))["future_field"] == {"x": 1}


def test_the_source_clock_is_optional_and_read_as_floats_when_present(rng: np.random.Generator) -> None:
    old = make_message(rng)
    assert "fps" not in schema.decode(schema.pack(old)) and "t_media" not in schema.decode(schema.pack(old))
    got = schema.decode(schema.pack({**old, "t_media": 7, "fps": 30}))  # ints where a real is expected
    assert (got["t_media"], got["fps"]) == (7.0, 30.0) and type(got["fps"]) is float


# -- the optional kp3d_teacher field ---------------------------------------------------------------
def _person_args(rng: np.random.Generator) -> tuple:
    return (3, 0.9, rng.random(4), rng.random((17, 2)) * 100, rng.random(17), rng.random((17, 3)) + [0, 0, 3],
            1000.0, 1001.0, 640.0, 360.0, np.array([0.1, 0.2, 3.0]))


def test_without_a_teacher_the_person_map_and_its_bytes_are_the_v1_ones(rng: np.random.Generator) -> None:
    pid, score, box, kp2d, conf, kp3d, fx, fy, cx, cy, t = _person_args(rng)
    v1 = {"id": pid, "score": score, "box": schema.encode_array(box), "kp2d": schema.encode_array(kp2d),
          "conf": schema.encode_array(conf), "kp3d": schema.encode_array(kp3d),
          "camera": {"fx": fx, "fy": fy, "cx": cx, "cy": cy, "t": schema.encode_array(t),
                     "source": "predicted"}}
    ours = schema.person(pid, score, box, kp2d, conf, kp3d, fx, fy, cx, cy, t)
    assert "kp3d_teacher" not in ours
    assert schema.pack(ours) == schema.pack(v1)
    decoded = schema.decode(schema.pack(dict(make_message(rng), persons=[ours])))
    assert "kp3d_teacher" not in decoded["persons"][0]


def test_teacher_3d_round_trips_as_an_optional_person_array(rng: np.random.Generator) -> None:
    teacher = rng.normal(size=(17, 3)).astype(np.float32)
    teacher -= teacher[0]
    p = schema.person(*_person_args(rng), teacher=teacher)
    msg = schema.decode(schema.pack(dict(make_message(rng), persons=[p])))
    got = msg["persons"][0]["kp3d_teacher"]
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, teacher)


def test_teacher_3d_of_a_wrong_shape_is_rejected(rng: np.random.Generator) -> None:
    p = schema.person(*_person_args(rng), teacher=np.zeros((17, 2)))
    with pytest.raises(SchemaError, match=r"kp3d_teacher: shape \[17, 2\]"):
        schema.decode(schema.pack(dict(make_message(rng), persons=[p])))


# -- printing messages -----------------------------------------------------------------------------
def test_to_json_renders_any_extra_value_as_json(rng: np.random.Generator) -> None:
    import json

    raw = make_message(rng)
    raw["when"] = msgpack.Timestamp(1_700_000_000, 5)  # msgpack extension types: not in schema 1
    raw["ext"] = msgpack.ExtType(7, b"\x01")
    raw["blob"] = {b"key": b"\x00\xff"}
    out = json.loads(json.dumps(schema.to_json(schema.decode(schema.pack(raw)))))
    assert out["when"] == "Timestamp(seconds=1700000000, nanoseconds=5)"
    assert out["ext"].startswith("ExtType(code=7")
    assert out["blob"] == {"6b6579": "00ff"}
    assert out["persons"][1]["kp3d"][0][2] > 3


def test_printable_escapes_terminal_control_characters() -> None:
    assert schema.printable("cam\x1b[2J\x07\n\u202e") == "cam\\x1b[2J\\x07\\n\\u202e"
    assert schema.printable("caméra 0_1-a") == "caméra 0_1-a"
