"""Publisher (never blocks on a slow subscriber), Python client, record/replay and `camerapose subscribe`."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import zmq

from camerapose.core.errors import InputError
from camerapose.runtime import subscribe
from camerapose.runtime.wire import schema
from camerapose.runtime.wire.publisher import PublishConfig, Publisher
from camerapose.runtime.wire.record import MAGIC, read_recording, record, replay

from .test_schema import make_message


def payload(frame: int, rng: np.random.Generator) -> bytes:
    m = make_message(rng)
    m["frame"] = frame
    return schema.pack(m)


def test_slow_subscriber_loses_messages_instead_of_blocking_the_publisher(port: int, rng) -> None:
    pub = Publisher(PublishConfig(endpoint=f"tcp://127.0.0.1:{port}", hwm=10))
    stalled = zmq.Context.instance().socket(zmq.SUB)
    stalled.setsockopt(zmq.RCVHWM, 1)
    stalled.setsockopt(zmq.SUBSCRIBE, b"")
    stalled.connect(pub.cfg.endpoint)
    try:
        deadline = time.monotonic() + 5
        while not pub.poll_subscriptions() and time.monotonic() < deadline:
            time.sleep(0.01)
        data = payload(0, rng)
        for _ in range(20000):  # far more than any queue holds: a blocking send would hang here
            pub.send("0", data)
        assert pub.sent == 20000
        received = 0
        while stalled.poll(200):
            stalled.recv_multipart()
            received += 1
        assert received < 20000  # the slow one lost messages
    finally:
        stalled.close(0)
        pub.close()


def test_port_in_use_is_an_input_error(port: int) -> None:
    first = Publisher(PublishConfig(endpoint=f"tcp://127.0.0.1:{port}"))
    try:
        with pytest.raises(InputError, match="already in use"):
            Publisher(PublishConfig(endpoint=f"tcp://127.0.0.1:{port}"))
    finally:
        first.close()


def test_curve_encrypted_stream_reaches_a_client_with_the_server_key(tmp_path: Path, port: int, rng) -> None:
    public, secret = zmq.curve_keypair()
    key = tmp_path / "server.key"
    key.write_bytes(secret + b"\n")
    cfg = PublishConfig(endpoint=f"tcp://127.0.0.1:{port}", allow_remote=True, curve_secret_key=str(key))
    pub = Publisher(cfg)
    got: list[dict] = []
    th = threading.Thread(
        target=lambda: got.extend(
            m for _, m in zip(range(1), subscribe(cfg.endpoint, timeout=5, server_key=public), strict=False)
        )
    )
    th.start()
    try:
        deadline = time.monotonic() + 5
        while th.is_alive() and time.monotonic() < deadline:
            pub.send("0", payload(3, rng))
            time.sleep(0.02)
        th.join(5)
    finally:
        pub.close()
    assert got and got[0]["frame"] == 3


@pytest.mark.slow
def test_record_then_replay_gives_the_same_payloads_with_the_original_timing(tmp_path: Path, rng) -> None:
    from .conftest import free_port

    src, dst = f"tcp://127.0.0.1:{free_port()}", f"tcp://127.0.0.1:{free_port()}"
    path = tmp_path / "s.cprec"
    pub = Publisher(PublishConfig(endpoint=src))
    rec = threading.Thread(target=record, args=(path, src, None, 6, 5.0))
    rec.start()
    deadline = time.monotonic() + 5
    while not pub.poll_subscriptions() and time.monotonic() < deadline:
        time.sleep(0.01)
    sent = [payload(i, rng) for i in range(6)]
    for i, p in enumerate(sent):
        pub.send("cam", p)
        time.sleep(0.1 if i != 2 else 0.4)  # one longer gap to find again
    rec.join(10)
    pub.close()
    items = list(read_recording(path))
    assert [p for _, _, p in items] == sent and all(t == b"pose.cam" for _, t, _ in items)

    got: list[tuple[float, bytes]] = []
    th = threading.Thread(
        target=lambda: got.extend(
            (time.monotonic(), p)
            for _, (_, p) in zip(range(6), subscribe(dst, timeout=10, raw=True), strict=False)
        )
    )
    th.start()
    replay(path, PublishConfig(endpoint=dst, wait_subscriber_s=5))
    th.join(10)
    assert [p for _, p in got] == sent
    gaps = np.diff([t for t, _ in got])
    assert int(np.argmax(gaps)) == 2 and gaps[2] > 0.3  # the long gap is replayed where it was


def test_recording_that_is_not_one_is_an_input_error(tmp_path: Path) -> None:
    bad = tmp_path / "x.cprec"
    bad.write_bytes(b"hello")
    with pytest.raises(InputError, match="not a CameraPose recording"):
        list(read_recording(bad))
    bad.write_bytes(MAGIC + b"\x93\xcb")  # cut inside the first record: nothing complete to replay
    assert list(read_recording(bad)) == []


def test_subscribe_json_prints_one_object_per_message(port: int, rng) -> None:
    pub = Publisher(PublishConfig(endpoint=f"tcp://127.0.0.1:{port}"))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "camerapose",
            "subscribe",
            "--endpoint",
            pub.cfg.endpoint,
            "--json",
            "--count",
            "3",
            "--timeout",
            "20",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while proc.poll() is None and time.monotonic() < deadline:
            pub.poll_subscriptions()
            pub.send("0", payload(9, rng))
            pub.sock.send_multipart([b"pose.0", b"\x00garbage"])  # skipped with a warning, not fatal
            time.sleep(0.05)
        out = proc.communicate(timeout=10)[0]
    finally:
        pub.close()
    lines = [json.loads(ln) for ln in out.splitlines()]
    assert proc.returncode == 0 and len(lines) == 3
    assert lines[0]["frame"] == 9 and len(lines[0]["persons"][0]["kp3d"]) == 17
