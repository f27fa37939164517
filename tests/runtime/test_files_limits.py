"""`camerapose convert` stays within memory proportional to the messages: BVH, TRC and C3D hold every
frame of a track's range, so a track missing more than MAX_MISSING_FRAMES frames of its range
(frame numbers 0, 1 and 1000000000) is a one-line error before anything is written, not a
many-gigabyte allocation. The commands run in a subprocess under an address-space limit, so a
regression fails instead of eating the machine."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import msgpack
import numpy as np
import pytest

from camerapose.core.errors import InputError
from camerapose.runtime.files.tracks import MAX_MISSING_FRAMES, Track, check_gaps, fill_gaps
from camerapose.runtime.wire.record import MAGIC
from camerapose.runtime.wire.schema import SCHEMA_VERSION, pack, person, topic

MEMORY_LIMIT = 2 << 30  # bytes of address space for the convert process


def message(frame: int) -> bytes:
    """One wire message of stream cam0 with person 1 standing 4 m in front of the camera."""
    X = np.random.default_rng(frame % 1000).normal(0, 0.3, (17, 3)) + np.array([0.0, 0.0, 4.0])
    uv = 1000 * X[:, :2] / X[:, 2:] + np.array([640.0, 360.0])
    p = person(1, 0.9, np.zeros(4), uv, np.full(17, 0.8), X, 1000.0, 1000.0, 640.0, 360.0, X[0])
    return pack({"schema": SCHEMA_VERSION, "stream": "cam0", "frame": frame, "t_capture": 100.0 + frame / 30,
                 "t_publish": 0.0, "t_wall": 0.0, "image_size": [1280, 720], "timings": {"total": 20.0},
                 "dropped": 0, "persons": [p]})


def recording(path: Path, frames: list[int]) -> Path:
    """A .cprec recording, as `camerapose record` writes it, of one message per frame number."""
    with open(path, "wb") as f:
        f.write(MAGIC)
        for i, frame in enumerate(frames):
            f.write(msgpack.packb([i / 30, topic("cam0"), message(frame)], use_bin_type=True))
    return path


def limited_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def convert(src: Path, fmt: str, out: Path) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "camerapose", "convert", str(src), "--to", fmt, "--out", str(out), "-q"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, preexec_fn=limited_memory)


@pytest.mark.parametrize("fmt", ["bvh", "trc", "c3d"])
def test_a_billion_frame_gap_is_one_line_exit_2_within_2_gb_and_writes_nothing(tmp_path: Path,
                                                                                fmt: str) -> None:
    if fmt == "c3d":
        pytest.importorskip("ezc3d")
    src = recording(tmp_path / "gap.cprec", [0, 1, 1_000_000_000])
    r = convert(src, fmt, tmp_path / "out")
    assert r.returncode == 2, r.stderr[-2000:]
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert "999999998 missing" in r.stderr and f"at most {MAX_MISSING_FRAMES}" in r.stderr
    assert not list((tmp_path / "out").glob(f"*.{fmt}"))


def test_the_same_gap_still_converts_to_csv_within_2_gb(tmp_path: Path) -> None:
    src = recording(tmp_path / "gap.cprec", [0, 1, 1_000_000_000])
    r = convert(src, "csv", tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    rows = (tmp_path / "gap_cam0_id1.csv").read_text().splitlines()
    assert [row.split(",")[1] for row in rows[1:]] == ["0", "1", "1000000000"]


def test_another_tracks_huge_gap_refuses_before_any_file_is_written(tmp_path: Path) -> None:
    """Track 1 is fine, a second stream's track is not: neither file is written."""
    src = recording(tmp_path / "two.cprec", [0, 1, 2])
    with open(src, "ab") as f:
        other = msgpack.unpackb(message(5), raw=False)
        for i, frame in enumerate([0, MAX_MISSING_FRAMES + 5]):
            other.update(stream="cam1", frame=frame)
            f.write(msgpack.packb([3 + i, topic("cam1"), msgpack.packb(other, use_bin_type=True)],
                                  use_bin_type=True))
    r = convert(src, "trc", tmp_path / "out")
    assert r.returncode == 2 and "stream 'cam1' id 1" in r.stderr, r.stderr[-2000:]
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def _track(frames: list[int]) -> Track:
    n = len(frames)
    return Track("cam0", 1, np.array(frames, np.int64), np.zeros(n), np.zeros((n, 17, 3)),
                 np.zeros((n, 17, 2)), np.zeros((n, 17)), np.zeros((n, 4)), [])


def test_the_limit_counts_missing_frames_not_the_range() -> None:
    check_gaps(_track([0, MAX_MISSING_FRAMES + 1]))  # exactly the limit: accepted
    check_gaps(_track(list(range(3 * MAX_MISSING_FRAMES))))  # a long track seen throughout: accepted
    with pytest.raises(InputError, match=f"{MAX_MISSING_FRAMES + 1} missing"):
        check_gaps(_track([0, MAX_MISSING_FRAMES + 2]))
    with pytest.raises(InputError, match="missing"):  # no int64 wrap-around at the top of the range
        check_gaps(_track([0, 2**63 - 1]))


def test_fill_gaps_refuses_past_the_limit_instead_of_allocating() -> None:
    with pytest.raises(ValueError, match="missing frames"):
        fill_gaps(np.array([0, 10**12]), np.zeros((2, 17, 3)))
    every, _, seen = fill_gaps(np.array([0, 4]), np.zeros((2, 17, 3)))
    assert every.tolist() == [0, 1, 2, 3, 4] and seen.tolist() == [True, False, False, False, True]
