"""Publisher (never blocks on a slow subscriber), Python client, record/replay and `camerapose subscribe`."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import msgpack
import numpy as np
import pytest
import zmq

from camerapose.cli import main as cli
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


# -- exact stream names ----------------------------------------------------------------------------
def named(stream: str, rng: np.random.Generator, **extra: object) -> bytes:
    """A valid payload of stream `stream` (extra keys added as given)."""
    m = make_message(rng)
    m["stream"] = stream
    m.update(extra)
    return schema.pack(m)


def test_client_streams_are_exact_names_cam_never_delivers_cam2(port: int, rng, publishing) -> None:
    endpoint = f"tcp://127.0.0.1:{port}"
    with publishing(endpoint, [("cam2", named("cam2", rng)), ("cam", named("cam", rng))]):
        msgs = [m["stream"] for _, m in zip(range(6), subscribe(endpoint, ["cam"], timeout=10), strict=False)]
        pairs = subscribe(endpoint, ["cam"], timeout=10, raw=True)
        raw = [t for _, (t, _) in zip(range(6), pairs, strict=False)]
    assert msgs == ["cam"] * 6
    assert raw == [b"pose.cam"] * 6


def test_record_keeps_only_the_exact_stream(tmp_path: Path, port: int, rng, publishing) -> None:
    endpoint = f"tcp://127.0.0.1:{port}"
    with publishing(endpoint, [("cam2", named("cam2", rng)), ("cam", named("cam", rng))]):
        n = record(tmp_path / "s.cprec", endpoint, ["cam"], limit=6, timeout=10)
    assert n == 6 and [t for _, t, _ in read_recording(tmp_path / "s.cprec")] == [b"pose.cam"] * 6


def test_subscribe_command_streams_are_exact_names(port: int, rng, capsys, publishing) -> None:
    endpoint = f"tcp://127.0.0.1:{port}"
    with publishing(endpoint, [("cam2", named("cam2", rng)), ("cam", named("cam", rng))]):
        code = cli(["subscribe", "--endpoint", endpoint, "--stream", "cam", "--count=6", "--timeout=10"])
    lines = capsys.readouterr().out.splitlines()
    assert code == 0 and len(lines) == 6 and all(ln.startswith("cam #7 ") for ln in lines)


# -- what `subscribe` prints -----------------------------------------------------------------------
def test_subscribe_json_prints_a_msgpack_timestamp_as_text(port: int, rng, capsys, publishing) -> None:
    endpoint = f"tcp://127.0.0.1:{port}"
    with publishing(endpoint, [("cam", named("cam", rng, when=msgpack.Timestamp(1_700_000_000, 0)))]):
        code = cli(["subscribe", "--endpoint", endpoint, "--json", "--count", "1", "--timeout", "10"])
    out = capsys.readouterr().out
    assert code == 0 and json.loads(out)["when"] == "Timestamp(seconds=1700000000, nanoseconds=0)"


def test_subscribe_escapes_control_characters_of_a_stream_name(port: int, rng, capsys, publishing) -> None:
    endpoint = f"tcp://127.0.0.1:{port}"
    with publishing(endpoint, [("cam", named("cam\x1b]0;pwned\x07\x1b[2J\r", rng))]):
        code = cli(["subscribe", "--endpoint", endpoint, "--count", "1", "--timeout", "10"])
    out = capsys.readouterr().out
    assert code == 0 and out.startswith("cam\\x1b]0;pwned\\x07\\x1b[2J\\r #7 ")
    assert not any(ord(c) < 32 for c in out.rstrip("\n"))


# -- bad input: one line, exit 2 -------------------------------------------------------------------
def write_recording(path: Path, times: list[float], rng: np.random.Generator) -> Path:
    """A .cprec file with one valid message at each of `times` (seconds; written as given)."""
    records = [msgpack.packb([t, b"pose.0", payload(i, rng)], use_bin_type=True) for i, t in enumerate(times)]
    path.write_bytes(MAGIC + b"".join(records))
    return path


@pytest.mark.parametrize(
    "argv, why",
    [
        (["subscribe", "--endpoint", "nowhere"], "cannot connect to 'nowhere' (Invalid argument)"),
        (["subscribe", "--server-key", "not-a-key"], "server key: expected the publisher's public CURVE key"),
        (["subscribe", "--server-key", "0" * 39 + "~"], "server key"),  # 40 characters, not Z85
        (["record", "{tmp}/r.cprec", "--endpoint", "tcp://nowhere"], "cannot connect to 'tcp://nowhere'"),
        (["record", "{tmp}/r.cprec", "--server-key", "x" * 40 + "y", "--timeout=2"], "server key"),
        (["record", "{tmp}", "--timeout=2"], "cannot write the recording (Is a directory)"),
        (["record", "{tmp}/file/r.cprec", "--timeout=2"], "cannot write the recording (Not a directory)"),
        (["replay", "{tmp}/inf.cprec"], r"corrupt record 1: time inf s"),
        (["replay", "{tmp}/nan.cprec"], r"corrupt record 1: time nan s"),
        (["replay", "{tmp}/back.cprec"], r"corrupt record 2: time 0.2 s after 0.5 s"),
    ],
)
def test_bad_input_to_subscribe_record_replay_is_one_line_and_exit_2(
    argv: list[str], why: str, tmp_path: Path, rng, capsys
) -> None:
    (tmp_path / "file").write_text("")
    write_recording(tmp_path / "inf.cprec", [0.0, float("inf")], rng)
    write_recording(tmp_path / "nan.cprec", [0.0, float("nan")], rng)
    write_recording(tmp_path / "back.cprec", [0.0, 0.5, 0.2], rng)
    code = cli([a.replace("{tmp}", str(tmp_path)) for a in argv])
    err = capsys.readouterr().err
    assert code == 2 and why in err and err.count("\n") == 1, err
    assert not (tmp_path / "r.cprec").exists()  # nothing is created before the socket is set up


@pytest.mark.slow
def test_replay_shortens_a_pause_longer_than_60_s(tmp_path: Path, port: int, rng) -> None:
    path = write_recording(tmp_path / "gap.cprec", [0.0, 1e9, 1e9 + 0.01], rng)
    start = time.monotonic()
    r = subprocess.run(
        [sys.executable, "-m", "camerapose", "replay", str(path), "--speed", "100",
         "--publish", f"tcp://127.0.0.1:{port}"],
        capture_output=True, text=True, timeout=30,
    )
    assert r.returncode == 0 and "3 messages replayed" in r.stdout, r.stderr
    assert "a pause of 1000000000 s shortened to 60 s" in r.stderr
    assert time.monotonic() - start < 20  # 60 s at speed 100: 0.6 s

