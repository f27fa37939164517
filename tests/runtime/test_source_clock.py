"""The source's clock in every message (`fps`, `t_media`, docs/schema.md) and what the files make
of it: `convert` writes the source's rate exactly into BVH / TRC / C3D and `t_media` as `t`; older
recordings without it keep the estimate from the capture times, and say so; `--fps` overrides."""

from __future__ import annotations

import csv
import importlib.util
import logging
from pathlib import Path

import msgpack
import numpy as np
import pytest

import camerapose
from camerapose.runtime.files.convert import convert
from camerapose.runtime.wire.schema import pack

from .test_files import FPS, FRAMES, parse_trc, payloads, write_recording

SOURCE_FPS = 25.0  # differs from the clip's capture-time steps (1/30 s): which one a file got shows


def stamped(fps: float | None) -> list[bytes]:
    """The synthetic clip's payloads with the source's clock added (frame / fps), or as they are."""
    if fps is None:
        return payloads()
    return [pack({**msgpack.unpackb(p, raw=False), "t_media": f / fps, "fps": fps})
            for f, p in enumerate(payloads())]


def header(path: Path) -> dict[str, str]:
    keys, values, _, _ = parse_trc(path)
    return dict(zip(keys, values, strict=True))


def csv_times(path: Path) -> list[float]:
    with open(path, newline="") as f:
        return [float(r["t"]) for r in csv.DictReader(f)]


def test_convert_writes_the_rate_the_messages_carry_not_the_capture_times(tmp_path: Path, caplog) -> None:
    src = write_recording(tmp_path / "new.cprec", stamped(SOURCE_FPS))
    with caplog.at_level(logging.INFO):
        convert(src, "bvh", tmp_path)
        convert(src, "trc", tmp_path)
        convert(src, "csv", tmp_path)
    assert "Frame Time: 0.04000000" in (tmp_path / "new_cam0_id7.bvh").read_text()
    assert header(tmp_path / "new_cam0_id7.trc")["DataRate"] == "25"
    assert csv_times(tmp_path / "new_cam0_id9.csv") == [f / SOURCE_FPS for f in range(FRAMES)]
    assert "at 25 fps (the source's rate)" in caplog.text


def test_a_recording_without_the_source_clock_keeps_the_estimate_and_says_so(tmp_path: Path, caplog) -> None:
    src = write_recording(tmp_path / "old.cprec", stamped(None))
    with caplog.at_level(logging.INFO):
        convert(src, "trc", tmp_path)
        convert(src, "csv", tmp_path)
    assert float(header(tmp_path / "old_cam0_id7.trc")["DataRate"]) == pytest.approx(FPS, rel=1e-4)
    assert csv_times(tmp_path / "old_cam0_id9.csv")[0] == 100.0  # t_capture, as before
    assert "the messages carry no fps" in caplog.text


def test_fps_flag_still_overrides_the_rate_the_messages_carry(tmp_path: Path) -> None:
    src = write_recording(tmp_path / "new.cprec", stamped(SOURCE_FPS))
    convert(src, "trc", tmp_path, fps=50.0)
    assert header(tmp_path / "new_cam0_id7.trc")["DataRate"] == "50"


@pytest.mark.slow
@pytest.mark.assets
def test_the_demo_converts_at_exactly_30_fps_with_t_from_0_in_the_videos_seconds(demo_clip,
                                                                                  tmp_path: Path) -> None:
    n = 12
    saved = tmp_path / "run.jsonl"
    msgs = list(camerapose.estimate(demo_clip(n), every_frame=True, output={"save": str(saved)}))
    assert [(m["fps"], m["t_media"]) for m in msgs] == [(30.0, i / 30) for i in range(n)]
    formats = ["bvh", "trc", "csv"] + (["c3d"] if importlib.util.find_spec("ezc3d") else [])
    for fmt in formats:
        convert(saved, fmt, tmp_path / "out")
    pid = min(p["id"] for m in msgs for p in m["persons"])
    first = tmp_path / "out" / f"run_0_id{pid}"
    assert "Frame Time: 0.03333333" in first.with_suffix(".bvh").read_text()
    assert header(first.with_suffix(".trc"))["DataRate"] == "30"
    seen = [i for i, m in enumerate(msgs) if any(p["id"] == pid for p in m["persons"])]
    np.testing.assert_allclose(csv_times(first.with_suffix(".csv")), np.array(seen) / 30, atol=1e-6)
    assert seen[0] == 0 and seen[-1] == n - 1  # the range 0 .. (n-1)/30 s
    if "c3d" in formats:
        import ezc3d

        rate = ezc3d.c3d(str(first.with_suffix(".c3d")))["parameters"]["POINT"]["RATE"]["value"][0]
        assert rate == 30.0
