"""The detector benchmark's quick run writes a complete report (numbers are not asserted)."""

from __future__ import annotations

import json
from pathlib import Path

from camerapose.benchmarks import detector as bench


def test_quick_run_writes_markdown_json_and_plot(tmp_path: Path, assets_dir: Path) -> None:
    rep = bench.run(quick=True, out_dir=tmp_path)
    md = (tmp_path / "detector.md").read_text()
    data = json.loads((tmp_path / "detector.json").read_text())
    assert (tmp_path / "detector_latency.png").stat().st_size > 1000
    assert "Per-frame latency (ms)" in md and "Targets" in md and "one batched call vs a loop" in md
    assert data["machine"]["cores"] >= 1 and data["quick"] is True
    one = data["results"]["1 person"]["ours, tracking (detect every 10)"]
    assert one["n"] > 0 and one["p50"] > 0
    assert set(data["landmark_batching"]) == {"1 crop", "2 crops, one call", "2 crops, two calls"}
    if data["mediapipe"]:
        assert "mediapipe" in data["results"]["1 person"]
    else:
        assert "not installed" in md
    assert rep.data is not None
