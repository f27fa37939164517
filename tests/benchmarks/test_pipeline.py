"""The pipeline suite's quick report: a 2-second clip through `camerapose run` in live mode."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest

from camerapose.benchmarks import pipeline


def test_proc_sampler_reads_cpu_and_rss_of_this_process():
    sampler = pipeline.ProcSampler(os.getpid())
    if not sampler.how:
        pytest.skip("no /proc and no psutil here")
    t0 = time.monotonic()
    sampler.sample()
    end = time.perf_counter() + 0.3
    while time.perf_counter() < end:  # burn some CPU between the samples
        pass
    sampler.sample()
    summary = sampler.summary(t0 - 1, time.monotonic() + 1)
    [row] = [v for v in summary.values() if v["pid"] == os.getpid()]
    assert row["cpu_pct_mean"] > 0 and row["rss_mb_peak"] > 1



def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.assets
def test_quick_report_has_stages_processes_and_plots(tmp_path, demo_video, written, stats_keys):
    from camerapose.runtime.lift_engine import DEFAULT_MODEL

    if not Path(DEFAULT_MODEL).is_file():
        pytest.skip("the default pose model has not been exported yet")
    port = free_port()
    rep = pipeline.run(quick=True, out_dir=tmp_path, port=port)
    md, data = written(rep, tmp_path, ("pipeline_latency.png", "pipeline_stage_cdf.png", "pipeline_fps.png"))
    assert data["quick"] is True and data["frames_published"] > 0 and data["fps"] > 0
    assert data["endpoint"] == f"tcp://127.0.0.1:{port}"  # --port: the runtime published there
    assert stats_keys(data["glass_to_publish"]) and {"detect", "lift", "total"} <= set(data["stages"])
    assert all(stats_keys(s) for s in data["stages"].values())
    if data["process_sampling"] != "unavailable":
        assert {"supervisor", "detect", "lift", "publish"} <= set(data["processes"])
        assert any(k.startswith("capture") for k in data["processes"])
        assert "Per process while messages flowed" in md and "runtime total" in md
    # the like-for-like run follows one person, as MediaPipe does
    one = data["one_person"]
    assert one["settings"] == ["detector.max_persons=1"] and stats_keys(one["glass_to_publish"])
    assert one["frames_published"] > 0 and "following 1 person" in md
    if "mediapipe" in data:
        assert "Against MediaPipe" in md
