"""`camerapose run` as a process: every bad input is one line and exit 2 within seconds (no stage
started, no restart loop), Ctrl-C is exit 130, and a run killed with SIGKILL leaves nothing behind
for long: the next run removes its folder and rings."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest

from camerapose.runtime import graph

REPO = Path(__file__).resolve().parents[2]
MODEL = REPO / "engines" / "models" / "pose_default.onnx"


@pytest.fixture
def private_env(tmp_path: Path) -> dict[str, str]:
    """An environment whose run folders and rings go to folders of this test only."""
    (tmp_path / "tmp").mkdir()
    (tmp_path / "shm").mkdir()
    return dict(os.environ, TMPDIR=str(tmp_path / "tmp"), CAMERAPOSE_SHM_DIR=str(tmp_path / "shm"))


def run_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "camerapose", "run", *args, "--stats-every", "0"]


def start(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    """`camerapose run ARGS` in a process group of its own (as a shell runs it), output on stdout."""
    return subprocess.Popen(run_cmd(*args), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)


def wait_running(proc: subprocess.Popen, timeout: float = 60.0) -> str:
    """The run's output up to its "running:" line (every stage up, sources started)."""
    seen = []
    deadline = time.monotonic() + timeout
    for line in proc.stdout:
        seen.append(line)
        if "running:" in line:
            return "".join(seen)
        assert time.monotonic() < deadline, "".join(seen)
    raise AssertionError("the run ended before it was running:\n" + "".join(seen))


def assert_one_line_exit_2(r: subprocess.CompletedProcess, text: str) -> None:
    errors = [ln for ln in r.stderr.splitlines() if "error:" in ln]
    assert r.returncode == 2, r.stderr
    assert len(errors) == 1 and text in errors[0], r.stderr
    assert "Traceback" not in r.stderr and "restarting" not in r.stderr, r.stderr


# -- bad input ----------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.assets
@pytest.mark.parametrize("args, text", [
    (["--intrinsics", "nan,900,640,360"], "'lift.intrinsics[0]' must be a finite number"),
    (["--intrinsics", "900,900,inf,360"], "'lift.intrinsics[2]' must be a finite number"),
    # accepted before: the lift stage's root solve went singular, traceback, restart loop
    (["--intrinsics", "1e-300,1e-300,1e308,-1e308"], "lift.intrinsics must be fx,fy,cx,cy"),
    (["--set", "supervisor.max_restarts=-1"], "supervisor.max_restarts must be in [0, "),
    (["--set", "supervisor.heartbeat_timeout_s=-1"], "supervisor.heartbeat_timeout_s must be in"),
    (["--set", "capture.fps=1e-300"], "capture.fps must be in"),
])
def test_bad_numbers_exit_2_with_one_line_within_seconds(demo_video: Path, args: list[str], text: str,
                                                         private_env: dict[str, str]) -> None:
    t0 = time.monotonic()
    publish = ["--publish", f"ipc://{private_env['TMPDIR']}/pub.sock"]  # never the default port
    r = subprocess.run(run_cmd("--source", str(demo_video), "--every-frame", "--model", str(MODEL),
                               *publish, *args), env=private_env, capture_output=True, text=True, timeout=60)
    assert_one_line_exit_2(r, text)
    assert time.monotonic() - t0 < 10, "a bad number must fail before any stage starts"


@pytest.mark.slow
def test_config_file_that_is_binary_or_a_folder_exits_2_with_one_line(tmp_path: Path) -> None:
    binary = tmp_path / "cfg.toml"
    binary.write_bytes(b"\xff\xfe[capture]\n")
    for path, text in ((binary, "not a TOML text file"), (tmp_path, "is a folder")):
        r = subprocess.run(run_cmd("--config", str(path), "--print-config"), capture_output=True,
                           text=True, timeout=60)
        assert_one_line_exit_2(r, f"{path}: {text}")


@pytest.mark.slow
def test_folder_whose_images_do_not_decode_exits_2_naming_it(tmp_path: Path,
                                                              private_env: dict[str, str]) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(3):
        (folder / f"{i:03d}.jpg").write_bytes(b"not a jpeg")
    r = subprocess.run(run_cmd("--source", str(folder), "--every-frame", "--model", str(MODEL),
                               "--publish", f"ipc://{private_env['TMPDIR']}/pub.sock"),
                       env=private_env, capture_output=True, text=True, timeout=60)
    assert_one_line_exit_2(r, f"{folder}: none of its 3 image files decodes")


# -- Ctrl-C ---------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.assets
def test_ctrl_c_stops_the_run_with_exit_130_and_leaves_nothing(demo_video: Path,
                                                               private_env: dict[str, str]) -> None:
    proc = start(["--source", str(demo_video), "--loop", "--model", str(MODEL),
                  "--publish", f"ipc://{private_env['TMPDIR']}/pub.sock"], private_env)
    try:
        wait_running(proc)
        # Early, as the capture stage is still starting: it must not die of it with a traceback.
        time.sleep(0.3)
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole group
        out = proc.communicate(timeout=10)[0]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, out
    assert "stopping (SIGINT)" in out and "Traceback" not in out, out
    assert not list(Path(private_env["TMPDIR"]).glob("cp-*"))
    assert not list(Path(private_env["CAMERAPOSE_SHM_DIR"]).iterdir())


# -- a run killed with SIGKILL --------------------------------------------------------------------
def fake_run_dir(root: Path, shm: Path, pid: int) -> Path:
    """A run folder as `graph.new_run_dir` makes it, owned by `pid`, with one ring file."""
    folder = root / f"{graph.RUN_PREFIX}0123abcd-{pid:08d}"
    folder.mkdir()
    (folder / graph.PID_FILE).write_text(str(pid))
    (shm / graph.ring_name(folder.name, "0")).write_bytes(b"ring")
    return folder


def dead_pid() -> int:
    """A pid no process has: the kernel's pid_max itself (pids are below it)."""
    return int(Path("/proc/sys/kernel/pid_max").read_text())


def test_only_run_folders_whose_supervisor_is_gone_are_stale(tmp_path: Path) -> None:
    dead = fake_run_dir(tmp_path, tmp_path, dead_pid())
    fake_run_dir(tmp_path, tmp_path, os.getpid())  # alive: never touched
    (tmp_path / "cp-tests-folder").mkdir()  # not a run folder's name
    no_pid = tmp_path / f"{graph.RUN_PREFIX}89abcdef-zzzzzzzz"
    no_pid.mkdir()  # a run still being set up
    assert graph.stale_run_dirs(str(tmp_path)) == [dead]


@pytest.mark.slow
@pytest.mark.assets
def test_next_run_removes_the_folder_and_rings_of_a_run_killed_with_sigkill(
    demo_video: Path, tmp_path: Path, private_env: dict[str, str]
) -> None:
    root, shm = Path(private_env["TMPDIR"]), Path(private_env["CAMERAPOSE_SHM_DIR"])
    publish = ["--publish", f"ipc://{root}/pub.sock"]
    killed = start(["--source", str(demo_video), "--loop", "--model", str(MODEL), *publish], private_env)
    try:
        wait_running(killed)
        deadline = time.monotonic() + 30
        while not list(shm.iterdir()) and time.monotonic() < deadline:  # the capture's ring
            time.sleep(0.1)
    finally:
        os.killpg(killed.pid, signal.SIGKILL)  # supervisor and stages: nobody cleans up
        killed.communicate()
    left = list(root.glob("cp-*"))
    assert len(left) == 1 and list(shm.iterdir()), "the killed run should have left its folder and ring"
    live = fake_run_dir(root, shm, os.getpid())  # another run, still alive: must stay

    frames = tmp_path / "frames"
    frames.mkdir()
    cap = cv2.VideoCapture(str(demo_video))
    for i in range(3):
        cv2.imwrite(str(frames / f"{i}.jpg"), cv2.resize(cap.read()[1], (442, 248)))
    cap.release()
    r = subprocess.run(run_cmd("--source", str(frames), "--every-frame", "--model", str(MODEL), *publish),
                       env=private_env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert f"removing {left[0]}" in r.stderr
    assert sorted(root.glob("cp-*")) == [live]
    assert [p.name for p in shm.iterdir()] == [graph.ring_name(live.name, "0")]
