"""The accuracy suite's quick report: the default model beside the mean-pose baseline."""

from __future__ import annotations

import subprocess
import sys

import pytest

from camerapose.benchmarks import accuracy


@pytest.mark.slow
def test_quick_report_has_metrics_per_joint_and_baseline(tmp_path, written, stats_keys):
    pytest.importorskip("torch")
    if not (accuracy.DEFAULT_ONNX.is_file() and accuracy.DEFAULT_CKPT.is_file()):
        pytest.skip("the default model has not been trained and exported yet")
    md, data = written(accuracy.run(quick=True, out_dir=tmp_path), tmp_path, ("accuracy_per_joint.png",))
    from camerapose.train.data import mocap

    assert data["quick"] is True and data["sizes"]["synthetic"] == accuracy.QUICK_TEST
    if mocap.available():  # real motion is always evaluated when its clips are fetched
        assert {"mocap", "mocap/walk/run", "mocap/climb"} <= set(data["sizes"])
        real = data["results"]["mocap"]
        assert real["engine"]["p_mpjpe"] < real["baseline"]["p_mpjpe"]
        assert "depth_rel_err" in real["engine"] and "depth_rel_err_given_k" in real["engine"]
    if "demo" in data:  # the demo video's 3D report (no ground truth)
        assert "Demo video" in md and data["demo"]["tracks"]
        assert all(t["bone_cv_pct"] >= 0 for t in data["demo"]["tracks"])
    by = data["results"]["synthetic"]
    assert set(by) == {"engine", "checkpoint", "baseline"}
    for res in by.values():
        assert {"mpjpe", "p_mpjpe", "n_mpjpe", "pck", "auc"} <= set(res) and len(res["per_joint_mpjpe"]) == 17
        assert stats_keys(res["per_sample_mpjpe"])
    assert "focal_rel_err" in by["engine"] and by["engine"]["max_abs_diff_vs_checkpoint_mm"] >= 0
    titles = ("### Accuracy", "### Per-sample MPJPE (mm)", "### Per-joint MPJPE (mm)", "mean-pose baseline")
    assert all(t in md for t in titles)


def test_without_torch_the_suite_says_what_to_install():
    script = """
import sys
sys.modules["torch"] = None
from camerapose.benchmarks import accuracy
from camerapose.core.errors import CameraPoseError
try:
    accuracy.run(quick=True)
except CameraPoseError as err:
    print(err)
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "needs torch" in proc.stdout, proc.stderr[-2000:]
