"""The runtime's benchmark suites write their reports (quick mode): Markdown, JSON with the numbers, PNG."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def test_transport_quick_report(tmp_path: Path) -> None:
    from camerapose.benchmarks import transport

    md = transport.run(quick=True).write(tmp_path)
    data = json.loads((tmp_path / "transport.json").read_text())
    assert md.is_file() and (tmp_path / "transport_latency.png").is_file()
    assert set(data["results"]) == {f"{t}/{n}" for t in ("ipc", "tcp") for n in (1, 2, 4)}
    assert all(r["p50"] > 0 and r["bytes"] > 0 for r in data["results"].values())
    assert "machine" in data and "p50" in md.read_text()


@pytest.mark.assets
def test_pipeline_quick_report(tmp_path: Path, demo_video: Path) -> None:
    from camerapose.benchmarks import pipeline
    from camerapose.runtime.lift import DEFAULT_MODEL

    if not Path(DEFAULT_MODEL).is_file():
        pytest.skip("the default pose model has not been exported yet")
    md = pipeline.run(quick=True).write(tmp_path)
    data = json.loads((tmp_path / "pipeline.json").read_text())
    assert md.is_file() and (tmp_path / "pipeline_latency.png").is_file()
    assert data["frames_published"] > 0 and data["fps"] > 0
    assert data["glass_to_publish"]["p50"] > 0 and "detect" in data["stages"]
