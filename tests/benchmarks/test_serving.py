"""The serving suite, quick, through `camerapose bench`: 1 and 4 clients on a real Triton server (its
side environment is made once in the asset cache; skipped when pip cannot reach PyPI) and locally."""

from __future__ import annotations

import json

import pytest

from camerapose.cli import main


@pytest.mark.slow
def test_quick_serving_report_has_every_point_and_the_servers_batches(tmp_path, stats_keys):
    pytest.importorskip("tritonclient.grpc")
    from camerapose.assets import SideEnvUnavailable
    from camerapose.engines.serve import side_env

    try:
        side_env()
    except SideEnvUnavailable as err:
        pytest.skip(f"no Triton side environment ({err})")
    assert main(["bench", "--suite", "serving", "--quick", "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "serving.json").read_text())
    md = (tmp_path / "serving.md").read_text()
    assert (tmp_path / "serving.png").stat().st_size > 1000 and "Machine: " in md
    assert set(data["results"]) == {f"{b}/{n}" for b in ("triton", "onnxruntime") for n in (1, 4)}
    for r in data["results"].values():
        assert stats_keys(r) and r["requests"] == r["n"] > 0 and r["poses_per_s"] > 0
    for n in (1, 4):
        server = data["results"][f"triton/{n}"]["server"]
        assert server["requests"] >= data["results"][f"triton/{n}"]["requests"]  # + the warm-up
        assert server["rows"] == 2 * server["requests"] and 1 <= server["executions"] <= server["requests"]
        assert sum(server["batch_sizes"].values()) == server["executions"]
    assert "Throughput and latency per request (ms)" in md and "Batches the server formed" in md


def test_a_port_too_high_for_three_is_one_line_and_exit_2(capsys):
    assert main(["bench", "--suite", "serving", "--quick", "--port", "65534", "--out", "/tmp"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "N, N+1 and N+2" in err[0]
