"""MediaPipe, the peer the detector and pipeline suites compare against: where its side venv is,
whether it works, and the two ways the suites drive `mediapipe_worker.py` in it.

MediaPipe 0.10.21 pins numpy<2, so it cannot share our venv: set CAMERAPOSE_MEDIAPIPE_PYTHON to the
python of a venv that has it (default /tmp/mpvenv/bin/python); without one the suites report
"not installed".
"""

from __future__ import annotations

import functools
import json
import logging
import os
import subprocess
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)
MEDIAPIPE_PYTHON = os.environ.get("CAMERAPOSE_MEDIAPIPE_PYTHON", "/tmp/mpvenv/bin/python")
WORKER = Path(__file__).with_name("mediapipe_worker.py")


@functools.cache
def available(python: str = MEDIAPIPE_PYTHON) -> bool:
    """True when `python` exists and imports mediapipe (checked once per process)."""
    if not Path(python).is_file():
        return False
    probe = subprocess.run([python, "-c", "import mediapipe"], capture_output=True, timeout=120)
    return probe.returncode == 0


class FrameWorker:
    """MediaPipe's pose pipeline driven frame by frame over a pipe (the worker's `frames` mode)."""

    def __init__(self, video: Path, frames: list[int], python: str = MEDIAPIPE_PYTHON) -> None:
        self._proc = subprocess.Popen(
            [python, str(WORKER), "frames", str(video), ",".join(map(str, frames))],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        if self._read() != "ready":
            raise RuntimeError("MediaPipe worker did not start")

    def _read(self) -> str:
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError("MediaPipe worker exited")
        return line.strip()

    def reset(self) -> None:
        """A fresh tracker (the next frame runs MediaPipe's person detector)."""
        self._proc.stdin.write("reset\n")
        self._proc.stdin.flush()
        self._read()

    def __call__(self, index: int) -> tuple[float, int, np.ndarray | None]:
        """-> (ms of Pose.process, persons found (0/1), its 33 landmarks (33, 2) px or None)."""
        self._proc.stdin.write(f"{index}\n")
        self._proc.stdin.flush()
        ms, found, *xy = self._read().split()
        landmarks = np.asarray(xy, np.float64).reshape(33, 2) if xy else None
        return float(ms), int(found), landmarks

    def close(self) -> None:
        self._proc.stdin.close()
        self._proc.wait(timeout=30)


def run_live(video: Path, limit: int, python: str = MEDIAPIPE_PYTHON) -> dict | None:
    """MediaPipe in live mode on `video` (at most `limit` frames): {"latency_ms": [...], "frames",
    "dropped", "seconds"}, or None when it is not installed or the run failed (logged)."""
    if not available(python):
        return None
    r = subprocess.run([python, str(WORKER), "live", str(video), str(limit)], capture_output=True,
                       text=True, timeout=600)
    if r.returncode != 0:
        log.warning("MediaPipe run failed: %s", r.stderr.strip().splitlines()[-1:])
        return None
    return json.loads(r.stdout.strip().splitlines()[-1])
