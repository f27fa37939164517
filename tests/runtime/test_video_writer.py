"""Annotated videos (`run --annotate`, `detect --annotate`) are H.264 in MP4, which browsers play,
when PyAV is installed; without it they fall back to mp4v with one warning."""

from __future__ import annotations

import importlib.util
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from camerapose.runtime.wire.schema import decode, pack, person

W, H = 320, 240


def codec(path: Path) -> str:
    """The video stream's codec name, by ffprobe if present, else by PyAV's own probe."""
    if shutil.which("ffprobe"):
        out = subprocess.run(
            ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=codec_name",
             "-of", "default=nw=1:nk=1", str(path)], capture_output=True, text=True, check=True)
        return out.stdout.strip()
    av = pytest.importorskip("av")
    with av.open(str(path)) as container:
        return container.streams.video[0].codec_context.name


def frames_in(path: Path) -> int:
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    return n


def message(frame: int) -> dict:
    rng = np.random.default_rng(frame)
    kp3d = rng.normal(0, 0.3, (17, 3)) + [0, 0, 4]
    kp2d = rng.uniform(50, 200, (17, 2))
    box = np.array([40, 40, 220, 220])
    p = person(1, 0.9, box, kp2d, np.full(17, 0.9), kp3d, 300, 300, 160, 120, kp3d[0])
    return decode(pack({"schema": 1, "stream": "cam", "frame": frame, "t_capture": frame / 30,
                        "t_publish": 0.0, "t_wall": 0.0, "image_size": [W, H], "timings": {"total": 10.0},
                        "dropped": 0, "persons": [p]}))


def test_run_annotated_video_is_h264(tmp_path: Path) -> None:
    pytest.importorskip("av")
    from camerapose.runtime.draw.video import Annotator

    out = tmp_path / "annotated.mp4"
    ann = Annotator(str(out), show=False, view3d=True)
    for f in range(6):
        ann.add(message(f), np.full((H, W, 3), 40 * f, np.uint8))
    ann.close()
    assert codec(out) == "h264"
    assert frames_in(out) == 6


def test_detect_annotated_video_is_h264(tmp_path: Path) -> None:
    pytest.importorskip("av")
    from camerapose.runtime.detect.cli import _writer

    out = tmp_path / "sub" / "detect.mp4"
    w = _writer(out, 25.0, W + 1, H + 1)  # an odd size too: padded to even for H.264
    for f in range(5):
        w.write(np.full((H + 1, W + 1, 3), 30 * f, np.uint8))
    w.release()
    assert codec(out) == "h264"
    assert frames_in(out) == 5


def test_without_pyav_the_video_is_mp4v_with_one_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from camerapose.runtime.draw import video

    with monkeypatch.context() as m:
        m.setitem(sys.modules, "av", None)  # import av now raises ImportError
        m.setattr(video, "_warned_mp4v", False)
        with caplog.at_level(logging.WARNING):
            for name in ("a.mp4", "b.mp4"):
                w = video.open_video(tmp_path / name, 30.0, (W, H))
                for f in range(3):
                    w.write(np.full((H, W, 3), 50 * f, np.uint8))
                w.release()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "mp4v" in warnings[0].getMessage() and "pip install av" in warnings[0].getMessage()
    assert frames_in(tmp_path / "a.mp4") == 3
    if shutil.which("ffprobe") or importlib.util.find_spec("av"):
        assert codec(tmp_path / "a.mp4") == "mpeg4"
