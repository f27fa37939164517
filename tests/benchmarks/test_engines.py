"""The engines suite's quick report (speed itself is never asserted)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from camerapose.benchmarks import engines


@pytest.mark.slow
def test_quick_report_has_every_backend_and_batch(tmp_path, written, stats_keys):
    pytest.importorskip("torch")
    md, data = written(engines.run(quick=True, out_dir=tmp_path), tmp_path, ("engines_latency.png",))
    assert set(data["results"]) >= {"onnxruntime", "torch-cpu"}
    for per in data["results"].values():
        assert set(per) == {str(b) for b in engines.QUICK_BATCHES}
        assert all(stats_keys(s) and s["poses_per_s"] > 0 for s in per.values())
    assert "onnxruntime: latency vs batch" in md and "targets" in md and "decode_heatmaps" in md


def test_full_batch_range_is_1_to_4096():
    assert engines.BATCHES[0] == 1 and engines.BATCHES[-1] == 4096


@pytest.mark.slow
def test_runs_without_torch_on_onnxruntime_alone(tmp_path):
    """A runtime-only install (a Jetson without torch) still gets the engines report."""
    script = f"""
import sys
sys.modules["torch"] = None
from camerapose.benchmarks import engines
rep = engines.run(quick=True)
assert set(rep.data["results"]) == {{"onnxruntime"}}, rep.data["results"].keys()
rep.write({str(tmp_path)!r})
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / "engines.json").is_file()


def test_an_unavailable_backend_is_one_clear_error():
    from camerapose.core.errors import CameraPoseError

    with pytest.raises(CameraPoseError, match="cannot run here"):
        engines._runners(engines.DEFAULT_ONNX, None, "tensorrt")
