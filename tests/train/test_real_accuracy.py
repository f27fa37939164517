"""The shipped model on the real set (`camerapose eval train/weights/default.pt --set
'data.test=["real"]'`): the published 3D is ahead of BlazePose's own on real footage, overall and
on every camera, with the fusion weights of each camera fitted on the others."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def rows() -> dict[str, dict[str, float]]:
    from camerapose.train.data.real import default_path

    if not default_path().is_file():
        pytest.skip(f"{default_path()} is missing: run `camerapose assets fetch --mocap`")
    proc = subprocess.run(
        [sys.executable, "-m", "camerapose", "eval", str(ROOT / "train/weights/default.pt"),
         "--set", 'data.test=["real"]', "--json"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


def test_eval_prints_every_real_row(rows) -> None:
    cams = ["cam01", "cam02", "cam03", "cam04"]
    want = {"real", "real/detector-3d", "real/lifter", *(f"real/{c}" for c in cams),
            *(f"real/{c}/detector-3d" for c in cams)}
    assert want <= rows.keys()
    for key in ("p_mpjpe", "mpjpe", "focal_rel_err", "depth_rel_err", "depth_rel_err_given_k"):
        assert key in rows["real"] and key in rows["real/lifter"]


def test_the_published_3d_beats_blazeposes_by_a_tenth_on_real_footage(rows) -> None:
    assert rows["real"]["p_mpjpe"] <= 0.9 * rows["real/detector-3d"]["p_mpjpe"]


def test_the_published_3d_beats_blazeposes_on_every_camera(rows) -> None:
    for cam in ("cam01", "cam02", "cam03", "cam04"):
        assert rows[f"real/{cam}"]["p_mpjpe"] < rows[f"real/{cam}/detector-3d"]["p_mpjpe"], cam
