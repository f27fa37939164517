"""The public stream against hostile peers and signals, with real processes.

- A peer that sends one 256 MiB frame, to a subscriber or to a publisher's XPUB socket, is
  disconnected before the frame is allocated: the receiver's peak memory stays flat and its stream
  goes on. The hostile peer speaks ZMTP 3.0 by hand so it can stream the frame without holding it.
- `record` keeps every message it received and prints its count on SIGTERM; Ctrl-C (SIGINT) exits
  130 from `subscribe`, `record` and `replay`.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import msgpack
import numpy as np
import pytest
import zmq

from camerapose.benchmarks import procs
from camerapose.runtime.wire import schema
from camerapose.runtime.wire.record import MAGIC, read_recording

pytestmark = pytest.mark.slow  # processes: not in `make test-fast`

REPO = Path(__file__).resolve().parents[2]
MODEL = REPO / "engines" / "models" / "pose_default.onnx"
HUGE = 256 << 20  # bytes in the hostile frame
MAX_GROWTH_MB = 100  # the receiver's peak RSS may grow this much at most (it grows 256-600 MB unprotected)


# -- a hostile ZMTP 3.0 peer (NULL security) --------------------------------------------------------
def zmtp_hello(socket_type: bytes) -> bytes:
    """Greeting (64 bytes: signature, version 3.0, mechanism NULL, as-server 0) + READY command."""
    greeting = b"\xff" + b"\0" * 8 + b"\x7f" + b"\x03\x00" + b"NULL".ljust(20, b"\0") + b"\0" * 32
    body = b"\x05READY" + b"\x0bSocket-Type" + struct.pack(">I", len(socket_type)) + socket_type
    return greeting + b"\x04" + bytes([len(body)]) + body


def zmtp_frame_header(size: int, more: bool = False) -> bytes:
    """A long frame's header: flags (0x02 long, 0x01 more) and the 8-byte size."""
    return bytes([0x02 | more]) + struct.pack(">Q", size)


def zmtp_frame(data: bytes, more: bool = False) -> bytes:
    return zmtp_frame_header(len(data), more) + data


def send_huge_frame(sock: socket.socket, first: bytes, size: int = HUGE) -> int:
    """Stream one frame of `size` bytes starting with `first`, 1 MiB at a time; returns the bytes
    sent before the peer hung up (all of them if it never does)."""
    chunk = bytes(1 << 20)
    sent = 0
    try:
        sock.sendall(zmtp_frame_header(size) + first)
        sent = len(first)
        while sent < size:
            n = min(len(chunk), size - sent)
            sock.sendall(chunk[:n])
            sent += n
    except OSError:  # reset by the peer: what a size limit does
        pass
    return sent


# -- helpers -----------------------------------------------------------------------------------------
def peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory so far (VmHWM), MB: a short spike cannot hide between
    two samples of its current RSS."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(ln.split()[1] for ln in status.splitlines() if ln.startswith("VmHWM"))) / 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pose_payload(stream: str, frame: int) -> bytes:
    """A valid schema-v1 payload with one person."""
    person = schema.person(1, 0.9, np.zeros(4), np.zeros((17, 2)), np.ones(17), np.ones((17, 3)),
                           1000.0, 1000.0, 640.0, 360.0, np.array([0.0, 0.0, 3.0]))
    return schema.pack({"schema": 1, "stream": stream, "frame": frame, "t_capture": 1.0, "t_publish": 1.01,
                        "t_wall": 1.7e9, "image_size": [1280, 720], "timings": {"total": 10.0},
                        "dropped": 0, "persons": [person]})


def camerapose(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "camerapose", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def count_messages(sub: zmq.Socket, seconds: float) -> int:
    n, until = 0, time.monotonic() + seconds
    while time.monotonic() < until:
        if sub.poll(50):
            sub.recv_multipart()
            n += 1
    return n


def wait_for(cond: Callable[[], bool], timeout: float, every: Callable[[], None] = lambda: None) -> bool:
    """Call `every` until `cond()` holds or `timeout` s pass; whether it held."""
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        if cond():
            return True
        every()
        time.sleep(0.02)
    return cond()


# -- hostile peers ------------------------------------------------------------------------------------
def test_subscriber_drops_a_peer_sending_256_mib_and_lives_on() -> None:
    srv = socket.create_server(("127.0.0.1", 0))
    srv.settimeout(30)
    endpoint = f"tcp://127.0.0.1:{srv.getsockname()[1]}"
    sub = camerapose("subscribe", "--endpoint", endpoint, "--stream", "cam", "--timeout", "3")
    try:
        conn, _ = srv.accept()  # the subscriber is up: imports done, socket connected
        conn.settimeout(30)
        conn.sendall(zmtp_hello(b"PUB"))
        time.sleep(0.3)  # libzmq drops what arrives with the handshake
        conn.sendall(zmtp_frame(b"pose.cam", more=True) + zmtp_frame(pose_payload("cam", 5)))  # a real one
        before = peak_rss_mb(sub.pid)
        conn.sendall(zmtp_frame(b"pose.cam", more=True))
        sent = send_huge_frame(conn, b"\x80")
        time.sleep(0.5)
        growth = peak_rss_mb(sub.pid) - before
        alive = sub.poll() is None
        conn.close()
        out, err = sub.communicate(timeout=30)  # ZeroMQ does not reconnect to a peer it dropped
    finally:
        sub.kill()
        srv.close()
    assert growth < MAX_GROWTH_MB, f"subscriber grew {growth:.0f} MB on a {sent >> 20} MiB frame"
    assert sent < HUGE  # it hung up instead of reading it all
    assert alive and sub.returncode == 0 and out.startswith("cam #5 ") and out.count("\n") == 1, err
    assert "Traceback" not in err


def looping_replay(tmp_path: Path) -> tuple[subprocess.Popen, zmq.Socket, int]:
    """`camerapose replay --loop` of a 50-message recording of stream `cam` (50 Hz) on a free port,
    with a SUB socket connected to it -> (the replay process, the socket, the port)."""
    rec = tmp_path / "s.cprec"
    rec.write_bytes(MAGIC + b"".join(msgpack.packb([i * 0.02, b"pose.cam", pose_payload("cam", i)],
                                                   use_bin_type=True) for i in range(50)))
    port = free_port()
    endpoint = f"tcp://127.0.0.1:{port}"
    sub = zmq.Context.instance().socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"pose.")
    sub.connect(endpoint)
    return camerapose("replay", str(rec), "--loop", "--publish", endpoint), sub, port


def test_publisher_drops_a_peer_subscribing_with_256_mib_and_streams_on(tmp_path: Path) -> None:
    replay, sub, port = looping_replay(tmp_path)
    try:
        assert sub.poll(30_000), "replay never published"
        before = peak_rss_mb(replay.pid)
        with socket.create_connection(("127.0.0.1", port), timeout=30) as hostile:
            hostile.sendall(zmtp_hello(b"SUB"))
            sent = send_huge_frame(hostile, b"\x01pose.")  # a subscription, 256 MiB long
        time.sleep(0.5)
        growth = peak_rss_mb(replay.pid) - before
        count_messages(sub, 0.2)  # what queued during the attack
        after = count_messages(sub, 1.0)
        assert replay.poll() is None, replay.communicate()[1]
    finally:
        replay.terminate()
        replay.communicate(timeout=30)
        sub.close(0)
    assert growth < MAX_GROWTH_MB, f"publisher grew {growth:.0f} MB on a {sent >> 20} MiB subscription"
    assert sent < HUGE and after >= 10  # 50 per second: the stream went on


@pytest.mark.assets
def test_runtime_publish_stage_survives_a_256_mib_subscription(demo_video: Path, tmp_path: Path) -> None:
    (tmp_path / "tmp").mkdir()
    (tmp_path / "shm").mkdir()
    env = dict(os.environ, TMPDIR=str(tmp_path / "tmp"), CAMERAPOSE_SHM_DIR=str(tmp_path / "shm"))
    port = free_port()
    endpoint = f"tcp://127.0.0.1:{port}"
    sub = zmq.Context.instance().socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"pose.")
    sub.connect(endpoint)
    args = ["--source", str(demo_video), "--loop", "--model", str(MODEL), "--publish", endpoint,
            "--wait-subscriber", "30", "--stats-every", "0"]
    run = subprocess.Popen([sys.executable, "-m", "camerapose", "run", *args], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert sub.poll(90_000), "the run never published"
        stage = next(k for k in procs.children(run.pid) if "publish" in procs.cmdline(k))
        before = peak_rss_mb(stage)
        with socket.create_connection(("127.0.0.1", port), timeout=30) as hostile:
            hostile.sendall(zmtp_hello(b"SUB"))
            sent = send_huge_frame(hostile, b"\x01pose.")
        time.sleep(1.0)  # what was sent has been read (or refused) by now
        growth = peak_rss_mb(stage) - before
        # past the heartbeat timeout (5 s): a stalled stage would have been killed by now
        after = count_messages(sub, 7.0)
        still = [k for k in procs.children(run.pid) if "publish" in procs.cmdline(k)]
    finally:
        run.send_signal(signal.SIGTERM)
        log = run.communicate(timeout=30)[0]
        sub.close(0)
    assert growth < MAX_GROWTH_MB, f"publish stage grew {growth:.0f} MB on a {sent >> 20} MiB subscription"
    assert still == [stage], log  # the same process: never stalled, never restarted
    assert after >= 20, log  # live mode at the file's 30 fps, minus what 2 busy cores drop


# -- signals ------------------------------------------------------------------------------------------
def recorded(path: Path) -> int:
    try:
        return sum(1 for _ in read_recording(path))
    except Exception:  # not written yet
        return 0


@pytest.mark.parametrize(("sig", "code", "wait_for_n"), [(signal.SIGTERM, 0, 5), (signal.SIGINT, 130, 3)],
                         ids=["sigterm-0", "ctrl-c-130"])
def test_record_stopped_by_a_signal_keeps_every_message_and_prints_the_count(
    tmp_path: Path, publishing, sig: signal.Signals, code: int, wait_for_n: int
) -> None:
    endpoint, path = f"tcp://127.0.0.1:{free_port()}", tmp_path / "s.cprec"
    with publishing(endpoint, lambda i: [("cam", pose_payload("cam", i))]):
        rec = camerapose("record", str(path), "--endpoint", endpoint)
        wait_for(lambda: recorded(path) >= wait_for_n, 30)
        rec.send_signal(sig)
        out, err = rec.communicate(timeout=30)
    n = recorded(path)
    assert rec.returncode == code and n >= wait_for_n and out == f"{n} messages -> {path}\n", err


def test_ctrl_c_exits_130_from_subscribe(publishing) -> None:
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    with publishing(endpoint, lambda i: [("cam", pose_payload("cam", i))]):
        sub = camerapose("subscribe", "--endpoint", endpoint)
        assert select.select([sub.stdout], [], [], 30)[0], "no message printed"
        sub.send_signal(signal.SIGINT)
        _, err = sub.communicate(timeout=30)
    assert sub.returncode == 130 and err.endswith("camerapose subscribe: interrupted\n"), err


def test_ctrl_c_exits_130_from_replay(tmp_path: Path) -> None:
    replay, sub, _ = looping_replay(tmp_path)
    try:
        assert sub.poll(30_000), "replay never published"
        replay.send_signal(signal.SIGINT)
        _, err = replay.communicate(timeout=30)
    finally:
        replay.kill()
        sub.close(0)
    assert replay.returncode == 130 and err.endswith("camerapose replay: interrupted\n"), err
