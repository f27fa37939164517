"""The training-throughput suite's quick report (tiny model, few iterations)."""

from __future__ import annotations

import json

import pytest


@pytest.mark.slow
def test_quick_training_benchmark_writes_markdown_json_and_plot(tmp_path):
    pytest.importorskip("torch")
    from camerapose.benchmarks.training import run

    rep = run(quick=True)
    rep.write(tmp_path)
    data = json.loads((tmp_path / "training.json").read_text())
    rows = data["rows"]
    assert [r["step"] for r in rows if r["device"] == "cpu"] == [1, 2, 3]
    assert all(r["samples_per_s"] > 0 for r in rows)
    assert (tmp_path / "training_throughput.png").stat().st_size > 0
    assert "samples/s" in (tmp_path / "training.md").read_text()
    assert rep.data["quick"] is True
