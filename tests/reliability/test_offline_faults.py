"""Offline runs (`--every-frame`) under fault injection: each stage killed (SIGKILL) or stopped
(SIGSTOP, caught by the heartbeats) early, midway or near the end of a 60-frame clip. Every run
must end by itself within LIMIT_S, exit 0, and publish every frame exactly once, in order, with
payloads equal to an undisturbed run's apart from the wall-clock fields. Two undisturbed runs
publish identical payloads. A frame that truly cannot be had again is named and the run exits 4.

These run the real `camerapose run` (BlazePose, the shipped pose model, shared memory, sockets)."""

from __future__ import annotations

import functools
import http.server
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import msgpack
import pytest
import zmq

from camerapose.benchmarks import procs

pytestmark = [pytest.mark.slow, pytest.mark.assets]

REPO = Path(__file__).resolve().parents[2]
MODEL = REPO / "engines" / "models" / "pose_default.onnx"
FRAMES = 60
LIMIT_S = 60.0
WALL_CLOCK = ("t_capture", "t_wall", "t_publish", "timings")  # the only fields allowed to differ


@pytest.fixture(scope="module")
def clip(demo_clip) -> Path:
    """The demo's first 60 frames at half size, as an mp4 of its own (30 fps)."""
    return demo_clip(FRAMES, shrink=2)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """Run folders and rings of this test only, so that what a run leaves behind shows."""
    (tmp_path / "tmp").mkdir()
    (tmp_path / "shm").mkdir()
    return dict(os.environ, TMPDIR=str(tmp_path / "tmp"), CAMERAPOSE_SHM_DIR=str(tmp_path / "shm"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Result:
    messages: list[dict]  # every payload received, in order
    code: int
    log: str
    seconds: float

    @property
    def frames(self) -> list[int]:
        return [m["frame"] for m in self.messages]

    def payloads(self) -> list[dict]:
        """The messages without their wall-clock fields."""
        return [{k: v for k, v in m.items() if k not in WALL_CLOCK} for m in self.messages]


def stage_pid(run: subprocess.Popen, stage: str) -> int:
    """The pid of the run's stage process `stage` ("capture:0", "detect", ...)."""
    for pid in procs.children(run.pid):
        cmd = procs.cmdline(pid)
        if "camerapose.runtime.stages" in cmd and stage in cmd:
            return pid
    raise AssertionError(f"no {stage} stage among the run's processes")


def offline_run(source: str, env: dict[str, str], fault: tuple[str, int, signal.Signals] | None = None,
                stop_at: int = 0) -> Result:
    """`camerapose run --every-frame` on `source`, read by a SUB socket until the run exits; with
    `fault` = (stage, n, signal), the signal goes to that stage once n messages arrived; with
    `stop_at`, the run gets SIGTERM once that many arrived (a source that never ends)."""
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    sub = zmq.Context.instance().socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"pose.")
    sub.setsockopt(zmq.RCVHWM, 100_000)
    sub.connect(endpoint)
    cmd = [sys.executable, "-m", "camerapose", "run", "--source", source, "--every-frame",
           "--model", str(MODEL), "--publish", endpoint, "--wait-subscriber", "30", "--stats-every", "0",
           "--set", "supervisor.heartbeat_timeout_s=1.0"]
    t0 = time.monotonic()
    out = tempfile.TemporaryFile("w+")  # a file, not a pipe: a run never blocks on its output
    run = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, text=True)
    messages: list[dict] = []
    last: dict[bytes, int] = {}  # docs/schema.md's rule: a frame equal to its topic's last is a re-send
    victim = None
    try:
        while (run.poll() is None or sub.poll(300)) and time.monotonic() - t0 < LIMIT_S:
            if sub.poll(50):
                topic, payload = sub.recv_multipart()
                msg = msgpack.unpackb(payload, raw=False)
                if last.get(topic) != msg["frame"]:
                    messages.append(msg)
                last[topic] = msg["frame"]
            if fault is not None and victim is None and len(messages) >= fault[1]:
                victim = stage_pid(run, fault[0])
                os.kill(victim, fault[2])
            if stop_at and len(messages) >= stop_at:
                run.terminate()
                stop_at = 0
        seconds = time.monotonic() - t0
    finally:
        if victim is not None and procs.alive(victim):  # a stopped stage never reads a SIGTERM
            os.kill(victim, signal.SIGKILL)
        if run.poll() is None:
            run.terminate()
            try:
                run.wait(10)
            except subprocess.TimeoutExpired:
                run.kill()
                run.wait()
        sub.close(0)
        out.seek(0)
        log = out.read()
        out.close()
    assert seconds < LIMIT_S, f"the run did not end within {LIMIT_S:.0f} s:\n{log[-3000:]}"
    assert "Traceback" not in log, log
    left = [*Path(env["CAMERAPOSE_SHM_DIR"]).iterdir(), *Path(env["TMPDIR"]).glob("cp-*")]
    assert not left, f"left behind: {left}"
    return Result(messages, run.returncode, log, seconds)


@pytest.fixture(scope="module")
def undisturbed(clip: Path, tmp_path_factory: pytest.TempPathFactory) -> Result:
    tmp = tmp_path_factory.mktemp("undisturbed")
    (tmp / "tmp").mkdir()
    (tmp / "shm").mkdir()
    env = dict(os.environ, TMPDIR=str(tmp / "tmp"), CAMERAPOSE_SHM_DIR=str(tmp / "shm"))
    r = offline_run(str(clip), env)
    assert r.code == 0 and r.frames == list(range(FRAMES)), (r.frames, r.log[-3000:])
    assert sum(len(m["persons"]) for m in r.messages) > FRAMES  # the two people of the demo
    return r


def test_two_undisturbed_offline_runs_publish_identical_payloads(
    clip: Path, env: dict[str, str], undisturbed: Result
) -> None:
    again = offline_run(str(clip), env)
    assert again.code == 0, again.log
    assert again.payloads() == undisturbed.payloads()
    for m in again.messages:  # persons in id order in every message
        ids = [p["id"] for p in m["persons"]]
        assert ids == sorted(ids), (m["frame"], ids)


# Each stage is killed once and stopped once, at moments spread so that each signal meets each
# moment: early (the 3rd message published), midway (the 30th) and near the end (the 55th, when
# the capture has read the whole clip and sent its end of input). A stopped stage is only noticed
# when the rest waits for it, so the capture is stopped early (not after its last frame).
FAULTS = [
    ("capture:0", 55, signal.SIGKILL),
    ("detect", 3, signal.SIGKILL),
    ("lift", 30, signal.SIGKILL),
    ("publish", 55, signal.SIGKILL),
    ("capture:0", 3, signal.SIGSTOP),
    ("detect", 30, signal.SIGSTOP),
    ("lift", 55, signal.SIGSTOP),
    ("publish", 30, signal.SIGSTOP),
]


@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f"{f[0]}-{f[2].name}-at-{f[1]}")
def test_a_stage_killed_or_stopped_costs_no_frame_and_changes_no_payload(
    clip: Path, env: dict[str, str], undisturbed: Result, fault: tuple[str, int, signal.Signals]
) -> None:
    r = offline_run(str(clip), env, fault)
    stage = fault[0]
    assert f"{stage} died (signal SIGKILL); restarting (1 of 3)" in r.log, r.log[-3000:]
    assert r.code == 0, r.log[-3000:]
    assert r.frames == list(range(FRAMES)), (r.frames, r.log[-3000:])  # each once, in order
    assert r.payloads() == undisturbed.payloads()
    assert f"done: {FRAMES} frames published" in r.log, r.log[-3000:]


class _RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Files with HTTP range requests (FFmpeg reads an mp4's index at its end with one), quietly."""

    def send_head(self):
        rng = self.headers.get("Range", "")
        path = Path(self.translate_path(self.path))
        if not rng.startswith("bytes=") or not path.is_file():
            return super().send_head()
        size = path.stat().st_size
        start_s, _, end_s = rng[6:].partition("-")
        start, end = int(start_s or 0), min(int(end_s or size - 1), size - 1)
        f = path.open("rb")
        f.seek(start)
        self.send_response(206)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        return _Slice(f, end - start + 1)

    def log_message(self, *args: object) -> None:
        pass


class _Slice:
    """The first `n` bytes of an open file, read the way http.server copies a file."""

    def __init__(self, f, n: int) -> None:
        self.f, self.left = f, n

    def read(self, size: int = -1) -> bytes:
        size = self.left if size < 0 else min(size, self.left)
        data = self.f.read(size)
        self.left -= len(data)
        return data

    def close(self) -> None:
        self.f.close()


@pytest.fixture
def clip_url(clip: Path):
    """The clip served over HTTP: a source the capture cannot seek, so frames it had read before a
    restart cannot be read again."""
    handler = functools.partial(_RangeHandler, directory=str(clip.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/{clip.name}"
    server.shutdown()
    server.server_close()


def test_frames_that_cannot_be_read_again_are_named_and_the_run_exits_4(
    clip_url: str, env: dict[str, str]
) -> None:
    # A URL never ends (it is reconnected): the run is stopped once the stream went on for a while.
    r = offline_run(clip_url, env, ("capture:0", 20, signal.SIGKILL), stop_at=40)
    assert r.code == 4, r.log[-3000:]
    frames = r.frames
    assert frames == sorted(set(frames)), frames  # never twice, never out of order
    missing = sorted(set(range(frames[-1] + 1)) - set(frames))
    assert missing, frames  # the capture was ahead of publish: some frames it read were lost
    first, last = missing[0], missing[-1]
    assert missing == list(range(first, last + 1))
    span = f"0 {first}-{last}" if last > first else f"0 {first}"
    assert f"frames lost, never published: {span}" in r.log, r.log[-3000:]
    assert f"{len(missing)} LOST" in r.log, r.log[-3000:]
