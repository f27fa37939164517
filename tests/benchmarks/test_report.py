"""The report writer and the machine section every report carries."""

from __future__ import annotations

import json

import numpy as np
import pytest

from camerapose.benchmarks import report


def test_latency_stats_gives_the_percentiles_every_table_shows():
    st = report.latency_stats(np.arange(1, 101, dtype=float))
    assert st["n"] == 100 and st["p50"] == pytest.approx(50.5) and st["p99"] == pytest.approx(99.01)
    assert report.stats_cells(st) == [st["p50"], st["p95"], st["p99"]]
    with pytest.raises(ValueError):
        report.latency_stats([])


def test_machine_info_names_cpu_gpu_versions_commit_and_date():
    m = report.machine_info()
    assert m["cores"] >= 1 and m["cpu"] and m["commit"] and m["date"].endswith("UTC")
    assert "numpy" in m["versions"] and "onnxruntime" in m["versions"]
    assert set(m) >= {"gpu", "cuda", "jetson", "jetson_power_mode", "onnxruntime_providers"}
    lines = report.machine_lines(m)
    assert lines[0].startswith("Machine: ") and "CUDA:" in lines[0] and lines[1].startswith("Versions: ")


def test_jetson_power_mode_from_nvpmodel_or_its_status_file(monkeypatch):
    monkeypatch.setattr(report, "_run", lambda cmd, cwd=None: "NV Power Mode: MAXN\n0")
    assert report._jetson_power_mode() == "MAXN (mode 0)"
    files = {"/var/lib/nvpmodel/status": "pmode:0002 fmode:quiet",
             "/etc/nvpmodel.conf": "< POWER_MODEL ID=0 NAME=MAXN >\n< POWER_MODEL ID=2 NAME=30W >\n"}
    monkeypatch.setattr(report, "_run", lambda cmd, cwd=None: None)
    monkeypatch.setattr(report, "_read", files.get)
    assert report._jetson_power_mode() == "30W (mode 2)"
    monkeypatch.setattr(report, "_read", lambda path: None)
    assert report._jetson_power_mode() is None


def test_report_writes_markdown_json_and_plots(tmp_path):
    rep = report.Report("demo", "Demo suite")
    rep.add_text("Some words.")
    rep.add_table("numbers", ["a", "b"], [[1, 0.5], [2, 123456.0]])
    fig, ax = report.pyplot().subplots()
    ax.plot([0, 1], [1, 0])
    rep.add_plot("demo.png", fig)
    rep.data["extra"] = {"x": np.float32(1.5), "arr": np.arange(3)}
    md = rep.write(tmp_path).read_text()
    data = json.loads((tmp_path / "demo.json").read_text())
    assert "### numbers" in md and "| 2 | 123,456 |" in md and "![demo](demo.png)" in md
    assert data["extra"] == {"x": 1.5, "arr": [0, 1, 2]}
    assert data["tables"]["numbers"]["columns"] == ["a", "b"]
    assert (tmp_path / "demo.png").stat().st_size > 1000
