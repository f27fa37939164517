"""`make gpu-check` (scripts/gpu_check.sh) without a GPU: the plan, fast, exit 0, nothing written.

The GPU half of the script (builds, tests, benchmarks) runs only on a machine with an NVIDIA GPU;
here the dry run must name every step it would take and leave benchmarks/results/ untouched.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "gpu_check.sh"
RESULTS = REPO / "benchmarks" / "results"

# What the plan must name: pycuda's build, the TensorRT engines (lift model and BlazePose's two
# networks), the GPU tests, both benchmark suites, and where the reports go.
PLAN_MUST_NAME = (
    "pycuda",
    "--no-binary pycuda",
    "camerapose build engines/models/pose_default.onnx",
    "create_image_runner(tflite, onnx, \"tensorrt\")",
    "pose_detection.onnx",
    "pose_landmark_full.onnx",
    "pytest -q -m gpu",
    "bench --suite engines --out benchmarks/results/gpu/",
    "bench --suite detector --quick --out benchmarks/results/gpu/",
    "gpu_check.log",
    "README.md",
    "camerapose assets fetch --onnx",
)


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder under `folder`: relative path -> (mtime_ns, size)."""
    out = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            p = Path(root) / name
            st = p.lstat()
            out[str(p.relative_to(folder))] = (st.st_mtime_ns, st.st_size)
    return out


def _run(*args: str, **env: str) -> tuple[subprocess.CompletedProcess[str], float]:
    """The script with a clean environment (PATH and HOME only, plus `env`), from another folder."""
    clean = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/root"), **env}
    start = time.perf_counter()
    proc = subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, env=clean,
                          cwd=REPO / "tests", timeout=60)
    return proc, time.perf_counter() - start


def _check_plan(text: str) -> None:
    for needle in PLAN_MUST_NAME:
        assert needle in text, f"the plan does not name {needle!r}:\n{text}"
    # the steps, numbered, in order
    positions = [text.index(f"\n{n:>2}. ") for n in range(1, 13)]
    assert positions == sorted(positions)


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None,
                    reason="an NVIDIA GPU is here: the script would run")
def test_without_a_gpu_it_prints_the_plan_fast_and_writes_nothing():
    before = _snapshot(RESULTS)
    proc, took = _run()
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.rstrip().endswith("no NVIDIA GPU here: dry run, nothing was run")
    _check_plan(proc.stdout)
    assert "benchmarks/results/gpu/<machine-slug>" in proc.stdout
    assert took < 2.0, f"the dry run took {took:.2f} s"
    assert _snapshot(RESULTS) == before


def test_a_failing_nvidia_smi_counts_as_no_gpu():
    before = _snapshot(RESULTS)
    proc, _ = _run(NVIDIA_SMI="false")
    assert proc.returncode == 0, proc.stderr
    assert "no NVIDIA GPU here: dry run, nothing was run" in proc.stdout
    _check_plan(proc.stdout)
    assert _snapshot(RESULTS) == before


def test_dry_run_flag_prints_the_plan_and_runs_nothing(tmp_path):
    # A fake nvidia-smi: the script believes a GPU is here, and must still run nothing with --dry-run.
    smi = tmp_path / "nvidia-smi"
    calls = tmp_path / "calls"
    smi.write_text(f'#!/bin/sh\necho "$*" >> {calls}\necho "NVIDIA H200"\n')
    smi.chmod(0o755)
    before = _snapshot(RESULTS)
    proc, took = _run("--dry-run", NVIDIA_SMI=str(smi), OUT=str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    assert "GPU: NVIDIA H200" in proc.stdout
    assert proc.stdout.rstrip().endswith("dry run (--dry-run): nothing was run")
    _check_plan(proc.stdout)
    assert "--out benchmarks/results/gpu/nvidia-h200" in proc.stdout
    assert took < 2.0
    assert _snapshot(RESULTS) == before
    assert not (tmp_path / "out").exists()
    assert all("--query-gpu=name" in line for line in calls.read_text().splitlines())


def test_help_and_a_bad_argument():
    proc, _ = _run("--help")
    assert proc.returncode == 0 and "--dry-run" in proc.stdout and "WHEELS" in proc.stdout
    proc, _ = _run("--bogus")
    assert proc.returncode == 2 and "unknown argument" in proc.stderr and not proc.stdout


def test_make_target_runs_the_script():
    text = (REPO / "Makefile").read_text()
    assert "gpu-check" in text.split(".PHONY:", 1)[1].splitlines()[0]
    assert "\tbash scripts/gpu_check.sh" in text
