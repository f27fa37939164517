"""`camerapose run --save PATH`: every published message also written to a file (.jsonl, .npz or
.csv), checked when the config is read; and `estimate` gives the very messages such a run saves."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import camerapose
from camerapose.cli import main
from camerapose.core.errors import InputError
from camerapose.runtime.config import OutputConfig
from camerapose.runtime.wire.schema import to_json

from .conftest import free_port

CLIP_FRAMES = 20
WALL_CLOCK = ("t_capture", "t_wall", "t_publish", "timings")  # the only fields allowed to differ


# -- checks at config time (fast) -------------------------------------------------------------------
@pytest.mark.parametrize(("name", "match"), [
    ("poses.txt", "the extension picks the format; use one of .jsonl, .npz, .csv"),
    ("poses", "the extension picks the format"),
    ("missing/poses.csv", "no such folder"),
])
def test_a_bad_save_path_is_refused_when_the_config_is_read(tmp_path: Path, name: str, match: str) -> None:
    with pytest.raises(InputError, match=match):
        OutputConfig(save=str(tmp_path / name))


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes anywhere")
def test_a_save_path_in_a_read_only_folder_is_refused(tmp_path: Path) -> None:
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(InputError, match="is not writable"):
            OutputConfig(save=str(tmp_path / "poses.jsonl"))
    finally:
        tmp_path.chmod(0o700)


def test_run_save_with_a_bad_extension_is_one_line_exit_2(tmp_path: Path, capsys) -> None:
    assert main(["run", "--save", str(tmp_path / "poses.mp4"), "--print-config"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--save" in err and "the extension picks the format" in err


def test_run_save_sets_output_save(tmp_path: Path, capsys) -> None:
    path = str(tmp_path / "poses.npz")
    assert main(["run", "--save", path, "--print-config"]) == 0
    assert json.loads(capsys.readouterr().out)["output"]["save"] == path


# -- real runs (slow) -----------------------------------------------------------------------------
def _run_save(source: Path, save: Path) -> None:
    """`camerapose run --every-frame --save SAVE` on `source`, to its end."""
    cmd = [sys.executable, "-m", "camerapose", "run", "--source", str(source), "--every-frame",
           "--save", str(save), "--publish", f"tcp://127.0.0.1:{free_port()}", "--stats-every", "0"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]


@pytest.fixture(scope="module")
def clip(demo_clip) -> Path:
    """The demo's first CLIP_FRAMES frames, as an mp4 of its own."""
    return demo_clip(CLIP_FRAMES)


def _payload(msg: dict) -> dict:
    return {k: v for k, v in msg.items() if k not in WALL_CLOCK}


@pytest.mark.slow
@pytest.mark.assets
def test_run_every_frame_save_jsonl_writes_one_line_per_frame_of_the_demo(demo_video: Path, tmp_path: Path,
                                                                          demo_ids_ok) -> None:
    out = tmp_path / "out.jsonl"
    _run_save(demo_video, out)
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [m["frame"] for m in lines] == list(range(230))
    assert sum(len(m["persons"]) for m in lines) > 230  # two people most of the time
    demo_ids_ok([[p["id"] for p in m["persons"]] for m in lines])
    assert [(m["fps"], m["t_media"]) for m in lines] == [(30.0, f / 30) for f in range(230)]  # video's clock
    assert main(["convert", str(out), "--to", "bvh", "--out", str(tmp_path / "bvh"), "-q"]) == 0
    bvhs = list((tmp_path / "bvh").glob("*.bvh"))
    assert len(bvhs) == 2  # one per person: the man's flip does not split him in two
    assert all("Frame Time: 0.03333333" in f.read_text() for f in bvhs)  # 30 fps, not estimated


@pytest.mark.slow
@pytest.mark.assets
def test_estimate_every_frame_gives_what_run_every_frame_saves(clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "run.jsonl"
    _run_save(clip, out)
    saved = [_payload(json.loads(line)) for line in out.read_text().splitlines()]
    mine = [_payload(json.loads(json.dumps(to_json(m)))) for m in camerapose.estimate(clip, every_frame=True)]
    assert len(saved) == CLIP_FRAMES and any(m["persons"] for m in saved)
    assert mine == saved


@pytest.mark.slow
@pytest.mark.assets
def test_run_save_npz_and_csv_read_back(clip: Path, tmp_path: Path) -> None:
    _run_save(clip, tmp_path / "out.npz")
    _run_save(clip, tmp_path / "out.csv")
    with np.load(tmp_path / "out.npz") as npz:
        frames, kp3d = npz["frame"], npz["kp3d"]
    with open(tmp_path / "out.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(frames) >= CLIP_FRAMES  # one row per person per frame
    assert sorted(set(frames.tolist())) == list(range(CLIP_FRAMES))
    assert kp3d.shape == (len(frames), 17, 3) and np.isfinite(kp3d).all()
    assert [int(r["frame"]) for r in rows] == frames.tolist()
    pelvis = np.array([[float(r[f"Pelvis_{c}"]) for c in "xyz"] for r in rows])
    assert np.allclose(pelvis, kp3d[:, 0], atol=1e-5)  # the same poses in both files
