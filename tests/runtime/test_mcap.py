"""MCAP recordings (runtime/wire/mcap_io.py): readable by the mcap package as JSON messages with a
schema, and read back, replayed and converted as the same messages as the `.cprec` of the run."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from camerapose.core.errors import InputError
from camerapose.runtime.files.messages import read_messages
from camerapose.runtime.wire import schema
from camerapose.runtime.wire.mcap_io import SCHEMA_NAME, McapRecorder, read_mcap
from camerapose.runtime.wire.record import read_recording

mcap = pytest.importorskip("mcap")  # the files / dev extra

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo_two_people.cprec"


def to_mcap(src: Path, dst: Path) -> list[tuple[float, bytes, bytes]]:
    items = list(read_recording(src))
    out = McapRecorder(dst)
    for t, topic, payload in items:
        out.write(t, topic, payload)
    out.close()
    return items


def same_message(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        if k == "persons":
            assert len(a[k]) == len(b[k])
            for p, q in zip(a[k], b[k], strict=True):
                assert p.keys() == q.keys()
                for key in p:
                    if isinstance(p[key], np.ndarray):
                        np.testing.assert_array_equal(p[key], q[key])  # float32 exactly
                    elif key == "camera":
                        assert {**p[key], "t": 0} == {**q[key], "t": 0}
                        np.testing.assert_array_equal(p[key]["t"], q[key]["t"])
                    else:
                        assert p[key] == q[key]
        else:
            assert a[k] == b[k], k


def test_the_mcap_package_reads_every_message_as_json_with_our_schema(tmp_path: Path) -> None:
    items = to_mcap(DEMO, tmp_path / "run.mcap")
    with open(tmp_path / "run.mcap", "rb") as f:
        read = list(mcap.reader.make_reader(f).iter_messages())
    assert len(read) == len(items) > 0
    for (sch, channel, message), (_, topic, payload) in zip(read, items, strict=True):
        assert sch.name == SCHEMA_NAME and sch.encoding == "jsonschema" and channel.message_encoding == "json"
        assert channel.topic.encode() == topic and channel.topic.startswith("pose.")
        assert json.loads(message.data)["frame"] == schema.decode(payload)["frame"]


def test_an_mcap_recording_reads_back_as_the_same_messages_and_times(tmp_path: Path) -> None:
    items = to_mcap(DEMO, tmp_path / "run.mcap")
    back = list(read_mcap(tmp_path / "run.mcap"))
    assert [t for _, t, _ in back] == [t for _, t, _ in items]
    np.testing.assert_allclose([t for t, _, _ in back], [t for t, _, _ in items], atol=1e-9)
    for (_, _, p), (_, _, q) in zip(back, items, strict=True):
        same_message(schema.decode(p), schema.decode(q))
    # convert's reader takes either file and gives the same messages
    for a, b in zip(read_messages(tmp_path / "run.mcap"), read_messages(DEMO), strict=True):
        same_message(a, b)


def test_record_refuses_a_format_it_does_not_write(tmp_path: Path) -> None:
    from camerapose.runtime.wire.record import record

    with pytest.raises(InputError, match="format must be cprec or mcap"):
        record(tmp_path / "x.rec", "tcp://127.0.0.1:9", fmt="bag")


def test_a_file_that_is_not_mcap_nor_cprec_is_one_input_error(tmp_path: Path) -> None:
    bad = tmp_path / "x.mcap"
    bad.write_bytes(b"\x89MCAP0\r\n" + b"garbage" * 10)
    with pytest.raises(InputError, match=r"x\.mcap: not a readable MCAP file"):
        list(read_mcap(bad))


@pytest.mark.slow
@pytest.mark.parametrize(("name", "fmt"), [("s.mcap", None), ("s.rec", "mcap")])  # by name, or --format
def test_record_to_mcap_then_replay_gives_a_subscriber_the_same_messages(tmp_path: Path, name: str,
                                                                          fmt: str | None) -> None:
    from camerapose.runtime.wire.client import subscribe
    from camerapose.runtime.wire.publisher import PublishConfig
    from camerapose.runtime.wire.record import record, replay

    from .conftest import free_port

    items = list(read_recording(DEMO))[:20]
    src, dst = f"tcp://127.0.0.1:{free_port()}", f"tcp://127.0.0.1:{free_port()}"
    rec = threading.Thread(target=record, args=(tmp_path / name, src, None, len(items), 10.0, None, fmt))
    rec.start()
    from camerapose.runtime.wire.publisher import Publisher

    pub = Publisher(PublishConfig(endpoint=src))
    deadline = time.monotonic() + 5
    while not pub.poll_subscriptions() and time.monotonic() < deadline:
        time.sleep(0.01)
    for _, topic, payload in items:
        pub.sock.send_multipart([topic, payload])
        time.sleep(0.01)
    rec.join(15)
    pub.close()
    got: list[dict] = []
    th = threading.Thread(target=lambda: got.extend(
        m for _, m in zip(range(len(items)), subscribe(dst, timeout=10), strict=False)))
    th.start()
    assert (tmp_path / name).read_bytes()[:8] == b"\x89MCAP0\r\n"
    replay(tmp_path / name, PublishConfig(endpoint=dst, wait_subscriber_s=5))
    th.join(15)
    assert len(got) == len(items)
    for a, (_, _, q) in zip(got, items, strict=True):
        same_message(a, schema.decode(q))


def test_run_save_writes_an_mcap_that_converts_like_the_jsonl(demo_clip, tmp_path: Path) -> None:
    import camerapose

    clip = demo_clip(12, 2)
    msgs = list(camerapose.estimate(str(clip), every_frame=True, output={"save": str(tmp_path / "p.mcap")}))
    back = list(read_messages(tmp_path / "p.mcap"))
    assert [m["frame"] for m in back] == [m["frame"] for m in msgs] == list(range(12))
    for a, b in zip(back, msgs, strict=True):
        assert [p["id"] for p in a["persons"]] == [p["id"] for p in b["persons"]]
        for p, q in zip(a["persons"], b["persons"], strict=True):
            np.testing.assert_array_equal(p["kp3d"], q["kp3d"])
