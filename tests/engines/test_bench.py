"""The engine benchmark's report structure (quick mode; speed itself is never asserted)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("matplotlib")


def test_quick_engine_benchmark_writes_markdown_json_and_plot(tmp_path):
    from camerapose.benchmarks import engines

    report = engines.run(quick=True, out_dir=tmp_path)
    md = report.write(tmp_path)
    data = json.loads((tmp_path / "engines.json").read_text())
    assert set(data["results"]) >= {"onnxruntime", "torch-cpu"}
    for per in data["results"].values():
        assert set(per) == {str(b) for b in engines.QUICK_BATCHES}
        for stats in per.values():
            assert 0 < stats["p50"] <= stats["p95"] and stats["poses_per_s"] > 0
    text = md.read_text()
    assert "onnxruntime: latency vs batch" in text and "targets (issue 4)" in text
    assert "decode_heatmaps" in text and (tmp_path / "engines_latency.png").stat().st_size > 1000
