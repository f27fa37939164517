"""`run --rerun FILE.rrd` / output.rerun (runtime/draw/rerun_log.py): a rerun recording of every
frame's 3D poses, read back with rerun's own chunk reader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from camerapose.core.errors import InputError

pytest.importorskip("rerun")  # the rerun / dev extra


def logged(path: Path, suffix: str) -> dict[str, dict[int, np.ndarray]]:
    """entity -> {frame: its data} for the entities ending in `suffix`, read with rerun's reader."""
    from rerun.chunk import RrdReader

    out: dict[str, dict[int, np.ndarray]] = {}
    for chunk in RrdReader(str(path)).stream().to_chunks():
        if not chunk.entity_path.endswith(suffix):
            continue
        rb = chunk.to_record_batch()
        data = next(c for c in rb.schema.names if c.startswith("Points3D:positions"))
        for frame, value in zip(rb.column("frame").to_pylist(), rb.column(data).to_pylist(), strict=True):
            out.setdefault(chunk.entity_path, {})[frame] = np.asarray(value, np.float32)
    return out


def test_an_rrd_holds_every_frames_3d_poses_on_the_video_timeline(demo_clip, tmp_path: Path) -> None:
    import camerapose

    clip = demo_clip(12, 2)
    msgs = list(camerapose.estimate(str(clip), every_frame=True, output={"rerun": str(tmp_path / "p.rrd")}))
    joints = logged(tmp_path / "p.rrd", "/joints")
    want = {(m["stream"], p["id"], m["frame"]): p["kp3d"] for m in msgs for p in m["persons"]}
    assert want, "the clip has people"
    got = {(e.split("/")[1], int(e.split("/")[3]), f): v for e, by in joints.items() for f, v in by.items()}
    assert got.keys() == want.keys()
    for key, kp3d in want.items():
        np.testing.assert_array_equal(got[key], kp3d)  # metres, camera frame, as published


def test_a_rerun_path_that_is_not_an_rrd_is_one_line() -> None:
    from camerapose.runtime.config import load_config

    with pytest.raises(InputError, match=r"ends in \.rrd"):
        load_config(sets=["output.rerun='x.mp4'"])


@pytest.mark.slow
def test_run_rerun_on_the_demo_holds_its_230_frames_of_3d(demo_video: Path, tmp_path: Path, port) -> None:
    import json
    import subprocess
    import sys

    rrd, saved = tmp_path / "demo.rrd", tmp_path / "demo.jsonl"
    proc = subprocess.run([sys.executable, "-m", "camerapose", "run", str(demo_video), "--every-frame",
                           "--rerun", str(rrd), "--save", str(saved), "--publish", f"tcp://127.0.0.1:{port}",
                           "--stats-every", "0"], capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    frames = [json.loads(line) for line in saved.read_text().splitlines()]
    assert len(frames) == 230
    with_people = {m["frame"] for m in frames if m["persons"]}
    joints = logged(rrd, "/joints")
    assert {f for by in joints.values() for f in by} == with_people
