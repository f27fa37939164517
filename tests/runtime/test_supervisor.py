"""The process graph under its supervisor: clean shutdown, restarts, and every bad input as one line.

These run the real `camerapose run` (real detector, onnxruntime, sockets, shared memory)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import cv2
import msgpack
import numpy as np
import pytest
import zmq

from camerapose.benchmarks import procs
from camerapose.cli import main

pytestmark = pytest.mark.slow  # processes, models or training: not in `make test-fast`


def children_of(pid: int) -> dict[int, str]:
    """pid -> command line of each live child process of `pid`."""
    return {k: " ".join(procs.cmdline(k)) for k in procs.children(pid)}


class Run:
    """`camerapose run ...` as a child process, plus a SUB socket on its endpoint."""

    def __init__(self, args: list[str], port: int, wait_sub: bool = True) -> None:
        self.endpoint = f"tcp://127.0.0.1:{port}"
        self.sub = zmq.Context.instance().socket(zmq.SUB)
        self.sub.setsockopt(zmq.SUBSCRIBE, b"pose.")
        self.sub.connect(self.endpoint)
        extra = ["--wait-subscriber", "20"] if wait_sub else []
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "camerapose",
                "run",
                "--stats-every",
                "0",
                *args,
                "--publish",
                self.endpoint,
                *extra,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def messages(self, n: int, timeout: float = 60.0) -> list[dict]:
        out = []
        deadline = time.monotonic() + timeout
        while len(out) < n and time.monotonic() < deadline and self.proc.poll() is None:
            if self.sub.poll(100):
                out.append(msgpack.unpackb(self.sub.recv_multipart()[1], raw=False))
        assert len(out) == n, f"got {len(out)} of {n} messages; log:\n{self.finish()}"
        return out

    def until_exit(self, timeout: float = 60.0) -> list[dict]:
        """Every message until the run exits by itself (fails the test if it does not in time)."""
        out = []
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None or self.sub.poll(200):
            assert time.monotonic() < deadline, f"the run did not end within {timeout} s"
            if self.sub.poll(100):
                out.append(msgpack.unpackb(self.sub.recv_multipart()[1], raw=False))
        return out

    def finish(self, timeout: float = 30.0) -> str:
        try:
            out = self.proc.communicate(timeout=timeout)[0]
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out = self.proc.communicate()[0]
        self.sub.close(0)
        return out


@pytest.fixture
def demo_loop(demo_video: Path, pose_model: Path) -> list[str]:
    return ["--source", str(demo_video), "--loop", "--model", str(pose_model)]


@pytest.mark.assets
def test_sigterm_stops_everything_within_2s_leaving_nothing_behind(demo_loop: list[str], port: int) -> None:
    run = Run(demo_loop, port)
    run.messages(5)
    kids = children_of(run.proc.pid)
    assert len(kids) == 4, kids  # capture, detect, lift, publish
    t0 = time.monotonic()
    run.proc.send_signal(signal.SIGTERM)
    run.proc.wait(timeout=5)
    assert time.monotonic() - t0 < 2.0
    assert run.proc.returncode == 0
    log = run.finish()
    assert not [p for p in kids if procs.alive(p)], log
    assert not list(Path("/dev/shm").glob("camerapose-cp-*")), log
    assert "Traceback" not in log


@pytest.mark.assets
def test_stage_killed_with_sigkill_is_restarted_and_stream_goes_on(demo_loop: list[str], port: int) -> None:
    run = Run([*demo_loop, "--stats-every", "0.5"], port)
    first = run.messages(5)
    detect = next(p for p, cmd in children_of(run.proc.pid).items() if " detect " in cmd)
    os.kill(detect, signal.SIGKILL)
    time.sleep(0.5)
    # enough frames (about 1.3 s live) for a stats period after the restart to hold detect's times
    later = run.messages(40, timeout=60)
    new_kids = children_of(run.proc.pid)
    assert detect not in new_kids and any(" detect " in c for c in new_kids.values())
    assert later[-1]["frame"] > first[-1]["frame"]
    run.proc.send_signal(signal.SIGTERM)
    log = run.finish()
    assert run.proc.returncode == 0 and "detect died (signal SIGKILL); restarting (1 of 3)" in log, log
    # the periodic line: fps, drops, persons, p50/p95 per stage
    assert re.search(
        r"[\d.]+ fps  dropped \d+  corrupt \d+  persons/frame [\d.]+  ms p50/p95: .*detect [\d.]+/[\d.]+"
        r".*total [\d.]+/[\d.]+",
        log,
    ), log


@pytest.mark.assets
def test_killed_capture_resumes_where_it_stopped(demo_frames: Path, tiny_model: Path, port: int) -> None:
    run = Run(["--source", str(demo_frames), "--every-frame", "--model", str(tiny_model)], port)
    first = run.messages(10)
    capture = next(p for p, cmd in children_of(run.proc.pid).items() if " capture:0 " in cmd)
    os.kill(capture, signal.SIGKILL)
    rest = run.until_exit()
    log = run.finish()
    assert run.proc.returncode == 0 and "capture:0 died (signal SIGKILL)" in log, log
    frames = [m["frame"] for m in first + rest]
    # no restart from frame 0: every index at most once, in order, up to the last image
    assert frames == sorted(set(frames)) and frames[-1] == 59, (frames, log[-3000:])


@pytest.mark.assets
def test_hung_stage_is_killed_on_missed_heartbeats_and_restarted(
    demo_loop: list[str], port: int, tmp_path: Path
) -> None:
    cfg = tmp_path / "hb.toml"
    cfg.write_text("[supervisor]\nheartbeat_timeout_s = 1.0\n")
    run = Run([*demo_loop, "--config", str(cfg)], port)
    first = run.messages(3)
    lift = next(p for p, cmd in children_of(run.proc.pid).items() if " lift " in cmd)
    os.kill(lift, signal.SIGSTOP)  # alive but silent: only the heartbeat can tell
    time.sleep(1.5)
    later = run.messages(5, timeout=60)
    assert later[-1]["frame"] > first[-1]["frame"] and not procs.alive(lift)
    run.proc.send_signal(signal.SIGTERM)
    log = run.finish()
    assert "lift: no heartbeat for" in log and "lift died (signal SIGKILL); restarting (1 of 3)" in log, log


@pytest.mark.assets
def test_stage_dying_more_than_max_restarts_stops_with_one_clear_line(
    demo_loop: list[str], port: int
) -> None:
    run = Run([*demo_loop, "--max-restarts", "0"], port)
    run.messages(3)
    lift = next(p for p, cmd in children_of(run.proc.pid).items() if " lift " in cmd)
    os.kill(lift, signal.SIGKILL)
    log = run.finish()
    assert run.proc.returncode != 0
    assert "error: stage lift died (signal SIGKILL) and was restarted 0 times already; giving up" in log, log
    assert "Traceback" not in log


@pytest.mark.assets
def test_subscriber_sending_garbage_does_not_disturb_the_stream(demo_loop: list[str], port: int) -> None:
    run = Run(demo_loop, port)
    run.messages(3)
    rng = np.random.default_rng(0)
    with socket.create_connection(("127.0.0.1", port)) as raw:  # not even ZMTP
        raw.sendall(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    dealer = zmq.Context.instance().socket(zmq.XSUB)  # ZMTP, but sends non-subscription junk
    dealer.connect(run.endpoint)
    for _ in range(20):
        dealer.send(b"\x07garbage" + rng.integers(0, 256, 64, dtype=np.uint8).tobytes())
    msgs = run.messages(15)
    dealer.close(0)
    assert [m["frame"] for m in msgs] == sorted(m["frame"] for m in msgs)
    run.proc.send_signal(signal.SIGTERM)
    log = run.finish()
    assert run.proc.returncode == 0, log


@pytest.fixture(scope="module")
def demo_frames(demo_video: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 60 demo frames as an image folder (half size)."""
    folder = tmp_path_factory.mktemp("frames")
    cap = cv2.VideoCapture(str(demo_video))
    for i in range(60):
        _, img = cap.read()
        cv2.imwrite(str(folder / f"{i:03d}.jpg"), cv2.resize(img, (884, 497)))
    cap.release()
    return folder


@pytest.mark.assets
def test_live_mode_drops_stale_frames_and_counts_them(
    demo_frames: Path, pose_model: Path, port: int, tmp_path: Path
) -> None:
    # A 300 fps source: far faster than the detector, so live mode must drop, not queue.
    cfg = tmp_path / "fast.toml"
    cfg.write_text("[capture]\nfps = 300.0\n")
    run = Run(["--config", str(cfg), "--source", str(demo_frames), "--model", str(pose_model)], port)
    msgs = run.until_exit()
    log = run.finish()
    assert run.proc.returncode == 0, log
    frames = [m["frame"] for m in msgs]
    assert frames == sorted(frames) and len(set(frames)) == len(frames), "stale or repeated frames published"
    assert len(frames) < 60 and frames[-1] >= 55, frames  # frames were skipped, yet the newest got through
    assert msgs[-1]["dropped"] > 0  # counted, and the count travels with every message
    assert "dropped 0" not in log
    # never queued: a published frame waited for at most about one detector period, not a queue
    waits = [m["timings"]["wait_detect"] for m in msgs[3:]]
    details = [m["timings"]["detect"] for m in msgs[3:]]
    assert np.median(waits) < 3 * np.median(details) + 20, (waits, details)


@pytest.mark.assets
def test_offline_run_survives_a_killed_detector_without_hanging(
    demo_frames: Path, tiny_model: Path, port: int
) -> None:
    run = Run(["--source", str(demo_frames), "--every-frame", "--model", str(tiny_model)], port)
    first = run.messages(3)
    detect = next(p for p, cmd in children_of(run.proc.pid).items() if " detect " in cmd)
    os.kill(detect, signal.SIGKILL)
    rest = run.until_exit()
    log = run.finish(timeout=60)
    assert run.proc.returncode == 0, log  # the file still ends the run: no capture waiting forever
    frames = [m["frame"] for m in first + rest]
    assert frames == sorted(frames) and frames[-1] == 59, (
        frames
    )  # frames in flight may be lost, never reordered


@pytest.mark.assets
def test_several_sources_publish_each_on_its_own_topic(
    demo_frames: Path, tmp_path: Path, tiny_model: Path, port: int
) -> None:
    side = tmp_path / "side"
    side.mkdir()
    for f in sorted(demo_frames.iterdir())[:8]:
        (side / f.name).write_bytes(f.read_bytes())
    run = Run(
        [
            "--source",
            f"front={demo_frames}",
            "--source",
            f"side={side}",
            "--every-frame",
            "--model",
            str(tiny_model),
        ],
        port,
    )
    msgs = run.messages(68)
    log = run.finish()
    assert run.proc.returncode == 0, log
    by_stream: dict[str, list[int]] = {}
    for m in msgs:
        by_stream.setdefault(m["stream"], []).append(m["frame"])
    assert by_stream == {"front": list(range(60)), "side": list(range(8))}


def test_run_help_explains_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["run", "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    for flag in (
        "--source",
        "--every-frame",
        "--loop",
        "--publish",
        "--hwm",
        "--allow-remote",
        "--intrinsics",
        "--annotate",
        "--show",
        "--stats-every",
        "--max-restarts",
        "--config",
        "--wait-subscriber",
        "--teacher-3d",
    ):
        assert flag in out
    assert "runtime.toml" in out


# -- bad inputs: one line, non-zero exit, nothing left behind ------------------------------------
def cli(args: list[str], timeout: float = 90) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "camerapose", "run", *args, "--stats-every", "0"],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_here(args: list[str], capsys: pytest.CaptureFixture[str]) -> subprocess.CompletedProcess:
    """`camerapose run ARGS` in this process, for the refusals that happen before any stage starts
    (a subprocess would only add its start-up). -> what `cli` gives."""
    code = main(["run", *args, "--stats-every", "0"])
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(["run", *args], code, out, err)


def assert_one_line_error(r: subprocess.CompletedProcess, text: str) -> None:
    assert r.returncode != 0
    errors = [ln for ln in r.stderr.splitlines() if "error:" in ln]
    assert len(errors) == 1 and text in errors[0], r.stderr
    assert "Traceback" not in r.stderr


def test_missing_file(tmp_path: Path, tiny_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    r = run_here(["--source", str(tmp_path / "gone.mp4"), "--model", str(tiny_model)], capsys)
    assert_one_line_error(r, "no such file")


def test_unreadable_video(tmp_path: Path, tiny_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video" * 1000)
    assert_one_line_error(run_here(["--source", str(bad), "--model", str(tiny_model)], capsys), "bad.mp4")


@pytest.mark.assets
def test_truncated_video_ends_cleanly_or_fails_in_one_line(
    demo_video: Path, tmp_path: Path, tiny_model: Path, port: int
) -> None:
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(demo_video.read_bytes()[:1_500_000])
    r = cli(
        [
            "--source",
            str(cut),
            "--every-frame",
            "--model",
            str(tiny_model),
            "--publish",
            f"tcp://127.0.0.1:{port}",
        ]
    )
    if r.returncode != 0:
        assert_one_line_error(r, "cut.mp4")
    assert "Traceback" not in r.stderr


def test_absent_camera(tiny_model: Path, port: int) -> None:
    r = cli(["--source", "57", "--model", str(tiny_model), "--publish", f"tcp://127.0.0.1:{port}"])
    assert_one_line_error(r, "camera 57: no such camera")


def test_dead_url_after_retries(tiny_model: Path, port: int) -> None:
    r = cli(
        [
            "--source",
            "rtsp://127.0.0.1:9/none",
            "--retries",
            "1",
            "--model",
            str(tiny_model),
            "--publish",
            f"tcp://127.0.0.1:{port}",
        ]
    )
    assert_one_line_error(r, "cannot connect after 2 attempts")


def test_port_in_use(tmp_path: Path, tiny_model: Path, port: int) -> None:
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((64, 64, 3), np.uint8))
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
        s.listen()
        r = cli(
            ["--source", str(tmp_path), "--model", str(tiny_model), "--publish", f"tcp://127.0.0.1:{port}"]
        )
    assert_one_line_error(r, "address already in use")


def test_wrong_model_file(tmp_path: Path, port: int) -> None:
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((64, 64, 3), np.uint8))
    bad = tmp_path / "model.onnx"
    bad.write_text("not a model")
    r = cli(["--source", str(tmp_path), "--model", str(bad), "--publish", f"tcp://127.0.0.1:{port}"])
    assert_one_line_error(r, "model.onnx: not a loadable ONNX model")


def test_show_without_a_gui_is_one_clear_line(tmp_path: Path, tiny_model: Path, port: int) -> None:
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((64, 64, 3), np.uint8))
    r = cli(
        [
            "--source",
            str(tmp_path),
            "--model",
            str(tiny_model),
            "--show",
            "--publish",
            f"tcp://127.0.0.1:{port}",
        ]
    )
    if r.returncode == 0:
        pytest.skip("this OpenCV has a GUI and a display: --show works here")
    assert_one_line_error(r, "--show needs an OpenCV build with a GUI")


def test_malformed_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[capture]\nmode = = 'live'\n")
    assert_one_line_error(run_here(["--config", str(cfg)], capsys), "malformed TOML")


def test_non_loopback_bind_needs_allow_remote(tiny_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    r = run_here(["--source", "0", "--model", str(tiny_model), "--publish", "tcp://0.0.0.0:5999"], capsys)
    assert_one_line_error(r, "--allow-remote")


@pytest.mark.assets
def test_corrupt_frame_is_skipped_and_counted(
    tmp_path: Path, tiny_model: Path, port: int, demo_video: Path
) -> None:
    cap = cv2.VideoCapture(str(demo_video))
    for i in range(4):
        _ok, img = cap.read()
        cv2.imwrite(str(tmp_path / f"{i:02d}.jpg"), cv2.resize(img, (442, 248)))
    cap.release()
    (tmp_path / "02b.jpg").write_bytes(b"\xff\xd8\xff garbage")
    run = Run(["--source", str(tmp_path), "--every-frame", "--model", str(tiny_model)], port)
    msgs = run.messages(4)
    log = run.finish()
    assert run.proc.returncode == 0, log
    assert [m["frame"] for m in msgs] == [0, 1, 2, 4]  # index 3 (02b.jpg) skipped
    assert "1 corrupt" in log, log


# -- the rings' folder and the publish endpoint (issue 21, items 2 and 3) -------------------------
def private_run(args: list[str], tmp_path: Path, shm: Path,
                timeout: float = 120) -> subprocess.CompletedProcess:
    """`camerapose run ARGS` with its run folders in tmp_path/tmp and its rings in `shm`."""
    (tmp_path / "tmp").mkdir(exist_ok=True)
    env = dict(os.environ, TMPDIR=str(tmp_path / "tmp"), CAMERAPOSE_SHM_DIR=str(shm))
    return subprocess.run([sys.executable, "-m", "camerapose", "run", *args, "--stats-every", "0"],
                          env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("kind, why", [("missing", "no such folder"), ("file", "not a folder")])
def test_shm_dir_missing_or_a_file_exits_2_with_one_line_leaving_no_run_folder(
    tmp_path: Path, tiny_model: Path, kind: str, why: str
) -> None:
    shm = tmp_path / "shm"
    if kind == "file":
        shm.write_text("not a folder")
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((64, 64, 3), np.uint8))
    r = private_run(["--source", str(tmp_path / "a.png"), "--model", str(tiny_model),
                     "--publish", f"ipc://{tmp_path}/pub.sock"], tmp_path, shm)
    assert r.returncode == 2, r.stderr
    assert_one_line_error(r, f"CAMERAPOSE_SHM_DIR={shm}: {why}")
    assert not list((tmp_path / "tmp").glob("cp-*")), "a refused run left its folder behind"


@pytest.fixture
def small_tmpfs(tmp_path: Path):
    """A 64 MiB tmpfs (Docker's default /dev/shm), mounted for this test; skipped where mounting is
    not permitted."""
    folder = tmp_path / "small-shm"
    folder.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no `mount` command here")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(folder)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root / CAP_SYS_ADMIN): {r.stderr.strip()}")
    try:
        yield folder
    finally:
        if subprocess.run(["umount", str(folder)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(folder)], capture_output=True)


@pytest.mark.assets
def test_rings_too_big_for_a_64mb_shm_stop_the_run_with_one_line_naming_folder_size_and_fix(
    tmp_path: Path, small_tmpfs: Path, tiny_model: Path, demo_video: Path
) -> None:
    # two 1768x994 streams: 2 x 8 frames x 5.0 MiB > 64 MiB (before: SIGBUS, 4 restarts, no cause)
    r = private_run(["--source", f"a={demo_video}", "--source", f"b={demo_video}", "--every-frame",
                     "--model", str(tiny_model), "--publish", f"ipc://{tmp_path}/pub.sock"],
                    tmp_path, small_tmpfs)
    assert r.returncode == 2, r.stderr
    assert_one_line_error(r, f"not enough shared memory in {small_tmpfs}: a frame ring (8 frames of 5.0 MiB")
    line = next(ln for ln in r.stderr.splitlines() if "error:" in ln)
    assert "needs 40.2 MiB" in line and "--shm-size" in line and "CAMERAPOSE_SHM_DIR" in line, line
    assert "SIGBUS" not in r.stderr and "restarting" not in r.stderr, r.stderr
    assert not list(small_tmpfs.iterdir()), "rings left behind"
    assert not list((tmp_path / "tmp").glob("cp-*")), "run folder left behind"


def test_ipc_endpoint_in_use_exits_2_with_one_line_and_the_first_keeps_it(tmp_path: Path,
                                                                          tiny_model: Path) -> None:
    from camerapose.runtime.wire.publisher import PublishConfig, Publisher

    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((64, 64, 3), np.uint8))
    endpoint = f"ipc://{tmp_path}/pub.sock"
    first = Publisher(PublishConfig(endpoint=endpoint))  # "another runtime"
    try:
        r = cli(["--source", str(tmp_path / "a.png"), "--model", str(tiny_model), "--publish", endpoint])
        assert_one_line_error(r, f"cannot publish on {endpoint}: address already in use")
        assert r.returncode == 2, r.stderr
        sub = zmq.Context.instance().socket(zmq.SUB)
        sub.setsockopt(zmq.SUBSCRIBE, b"")
        sub.connect(endpoint)
        try:
            deadline = time.monotonic() + 5
            while not sub.poll(50) and time.monotonic() < deadline:
                first.send("0", b"still here")
            assert sub.poll(0), "the first publisher lost its endpoint"
        finally:
            sub.close(0)
    finally:
        first.close()
