"""The transport suite, quick, through `camerapose bench`: 2 transports x 1/8 subscribers x 1/2/4 persons."""

from __future__ import annotations

import json

import pytest

from camerapose.cli import main


@pytest.mark.slow
def test_quick_transport_report_covers_every_variant(tmp_path, stats_keys):
    assert main(["bench", "--suite", "transport", "--quick", "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "transport.json").read_text())
    md = (tmp_path / "transport.md").read_text()
    assert (tmp_path / "transport_latency.png").stat().st_size > 1000 and "Machine: " in md
    variants = {f"{t}/{s}sub/{p}p" for t in ("ipc", "tcp") for s in (1, 8) for p in (1, 2, 4)}
    assert set(data["results"]) == variants
    for r in data["results"].values():
        assert stats_keys(r) and stats_keys(r["slowest_subscriber"]) and r["bytes"] > 0
        assert r["n"] == r["messages"] * r["subscribers"]  # one latency per subscriber per message
    assert set(data["codec"]) == {"encode", "decode"} and set(data["codec"]["decode"]) == {"1", "2", "4"}
    assert "Per-message latency to each subscriber (ms)" in md and "Encoding and decoding alone" in md


def test_a_port_in_use_is_one_line_and_exit_2(capsys):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code = main(["bench", "--suite", "transport", "--quick", "--port", str(port), "--out", "/tmp"])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"cannot bind tcp://127.0.0.1:{port}" in err[0]
