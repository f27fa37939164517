"""The viewer's bridge (fast): newest-wins delivery, message -> JSON, exact stream matching, address
checks, the one-line errors of `camerapose view`, and a page that needs nothing from the internet."""

from __future__ import annotations

import asyncio
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from camerapose.cli import main
from camerapose.core.errors import InputError
from camerapose.core.skeleton import BONES
from camerapose.runtime.viewer.bridge import (
    Mailbox,
    RateMeter,
    hello_json,
    parse_http,
    request_allowed,
    stream_of,
    view_json,
)
from camerapose.runtime.wire import schema

from .test_schema import make_message

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "runtime" / "viewer" / "static"


def decoded(rng: np.random.Generator, persons: int = 2, **changes) -> dict:
    raw = make_message(rng, persons)
    raw.update(changes)
    return schema.decode(schema.pack(raw))


# -- newest wins -------------------------------------------------------------------------------------
def test_mailbox_keeps_only_the_newest_message_per_stream() -> None:
    box = Mailbox()
    for i in range(5):
        box.put("cam", i)
    box.put("side", "a")
    box.put("cam", 5)
    assert box.take() == [5, "a"] and box.replaced == 5
    assert box.take() == [] and len(box) == 0


def test_a_slow_page_gets_the_newest_messages_and_never_queues_the_rest() -> None:
    """The sender waits on a slow WebSocket while 100 messages arrive: it sends a handful, in
    order, ending with the newest of each stream."""
    server = pytest.importorskip("camerapose.runtime.viewer.server")

    class SlowSocket:
        closed = False

        def __init__(self) -> None:
            self.sent: list[str] = []

        async def send_str(self, text: str) -> None:
            self.sent.append(text)
            await asyncio.sleep(0.05)  # a browser that takes 50 ms per message

    async def scenario() -> server.Client:
        client = server.Client(SlowSocket())
        sender = asyncio.create_task(client.send_loop())
        for i in range(100):
            client.offer("cam", f"cam {i}")
            if i % 25 == 0:
                client.offer("side", f"side {i}")
            await asyncio.sleep(0.002)
        await asyncio.sleep(0.2)  # let it send what is pending
        sender.cancel()
        return client

    client = asyncio.run(scenario())
    cam = [int(t.split()[1]) for t in client.ws.sent if t.startswith("cam")]
    assert cam[-1] == 99 and cam == sorted(cam) and len(cam) < 20, cam
    assert "side 75" in client.ws.sent and client.box.replaced > 80


def test_the_bridge_offers_only_the_exact_streams_it_follows(rng) -> None:
    server = pytest.importorskip("camerapose.runtime.viewer.server")
    viewer = server.Viewer("tcp://127.0.0.1:5555", ["cam"])
    got: list[tuple[str, str]] = []

    class Page:
        def offer(self, stream: str, text: str) -> None:
            got.append((stream, text))

    viewer.clients.add(Page())
    payload = schema.pack(make_message(rng))  # stream "cam"
    viewer.dispatch(b"pose.cam2", payload)  # a prefix match for ZeroMQ, not for us
    viewer.dispatch(b"pose.cam", b"\x93not a pose")
    viewer.dispatch(b"pose.cam", payload)
    assert [s for s, _ in got] == ["cam"] and viewer.skipped == 2 and viewer.pumped == 1
    assert json.loads(got[0][1])["frame"] == 7
    mislabelled = server.Viewer("tcp://127.0.0.1:5555", ["cam", "side"])
    mislabelled.dispatch(b"pose.side", payload)  # topic and payload disagree: not shown
    assert mislabelled.skipped == 1 and mislabelled.pumped == 0


def test_stream_names_match_exactly() -> None:
    assert stream_of(b"pose.cam", {"cam"}) == "cam"
    assert stream_of(b"pose.cam2", {"cam"}) is None
    assert stream_of(b"pose.cam2", None) == "cam2"
    assert stream_of(b"posecam", None) is None and stream_of(b"pose.\xff", None) is None


# -- message -> JSON ---------------------------------------------------------------------------------
def test_message_to_json_is_compact_and_rounded_to_the_millimetre(rng) -> None:
    msg = decoded(rng)
    out = view_json(msg, fps=29.97)
    text = json.dumps(out, allow_nan=False)
    assert json.loads(text) == out
    assert out["type"] == "pose" and out["stream"] == "cam" and out["frame"] == 7
    assert out["image_size"] == [1280, 720] and out["fps"] == 30.0 and out["latency_ms"] == 20.0
    assert out["timings"] == {"detect": 12.5, "total": 20.0} and out["dropped"] == 0
    p = out["persons"][1]
    assert p["id"] == 2 and len(p["kp3d"]) == 17 and all(len(j) == 3 for j in p["kp3d"])
    np.testing.assert_allclose(p["kp3d"], msg["persons"][1]["kp3d"], atol=0.0005 + 1e-7)
    assert all(v == round(v, 3) for j in p["kp3d"] for v in j)
    assert p["camera"] == {"fx": 1000.0, "fy": 1001.0, "cx": 640.0, "cy": 360.0,
                           "t": [0.1, 0.2, 3.0], "source": "predicted"}
    assert "kp2d" not in p and "conf" not in p  # the page draws 3D only


def test_non_finite_joints_become_null_and_odd_dropped_counts_none(rng) -> None:
    msg = decoded(rng, dropped="many")
    msg["persons"][0]["kp3d"][4, 1] = np.nan
    msg["persons"][0]["kp3d"][5, 2] = np.inf
    out = view_json(msg, fps=0.0)
    json.dumps(out, allow_nan=False)  # JSON.parse in the page refuses NaN
    assert out["persons"][0]["kp3d"][4][1] is None and out["persons"][0]["kp3d"][5][2] is None
    assert out["dropped"] is None


def test_hello_carries_the_skeleton_and_the_streams() -> None:
    hello = hello_json("ipc:///tmp/x", {"b", "a"})
    assert hello["bones"] == [list(b) for b in BONES] and hello["streams"] == ["a", "b"]
    assert hello_json("tcp://127.0.0.1:5555", None)["streams"] is None


def test_rate_meter_reports_the_publish_rate_and_restarts_after_a_clock_jump() -> None:
    meter = RateMeter(window=2.0)
    rates = [meter.add(100 + i / 30) for i in range(90)]
    assert rates[0] == 0.0 and rates[-1] == pytest.approx(30.0, rel=1e-6)
    assert meter.add(5.0) == pytest.approx(30.0)  # a replay starting over: the last rate, not 0 fps
    assert meter.add(5.1) == pytest.approx(10.0)  # measured again from the new clock


# -- addresses and one-line errors -------------------------------------------------------------------
@pytest.mark.parametrize(("addr", "expected"), [
    ("127.0.0.1:8765", ("127.0.0.1", 8765)),
    ("localhost:0", ("localhost", 0)),
    ("[::1]:9000", ("::1", 9000)),
])
def test_loopback_http_addresses_are_accepted(addr: str, expected: tuple[str, int]) -> None:
    assert parse_http(addr, allow_remote=False) == expected


def test_a_non_loopback_page_needs_allow_remote() -> None:
    with pytest.raises(InputError, match="--allow-remote"):
        parse_http("0.0.0.0:8765", allow_remote=False)
    assert parse_http("0.0.0.0:8765", allow_remote=True) == ("0.0.0.0", 8765)


@pytest.mark.parametrize("addr", ["8765", "host:", "127.0.0.1:70000", "http://127.0.0.1:80", "a b:1"])
def test_malformed_http_addresses_are_input_errors(addr: str) -> None:
    with pytest.raises(InputError, match="HOST:PORT"):
        parse_http(addr, allow_remote=True)


@pytest.mark.parametrize(("host", "origin", "remote", "allowed"), [
    ("127.0.0.1:8765", None, False, True),  # a script, not a browser
    ("127.0.0.1:8765", "http://127.0.0.1:8765", False, True),  # the viewer's own page
    ("localhost:8765", "http://localhost:8765", False, True),
    ("[::1]:8765", "http://[::1]:8765", False, True),
    ("127.0.0.1:8765", "https://evil.example", False, False),  # another site's page, in your browser
    ("127.0.0.1:8765", "null", False, False),  # a local file's page
    ("evil.example:8765", "http://evil.example:8765", False, False),  # a name rebound to 127.0.0.1
    ("pose-box:8765", "http://pose-box:8765", True, True),  # --allow-remote: any name, same origin
    ("pose-box:8765", "http://evil.example", True, False),
])
def test_only_the_viewers_own_pages_are_answered(host, origin, remote, allowed) -> None:
    assert request_allowed(host, origin, remote) is allowed


def test_view_on_a_public_address_is_one_line_exit_2(capsys) -> None:
    assert main(["view", "--http", "0.0.0.0:8765"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--allow-remote" in err


def test_view_without_aiohttp_is_one_line_naming_the_extra(monkeypatch, capsys) -> None:
    monkeypatch.setitem(sys.modules, "aiohttp", None)  # as if it were not installed
    monkeypatch.delitem(sys.modules, "camerapose.runtime.viewer.server", raising=False)
    assert main(["view"]) == 2
    err = capsys.readouterr().err
    assert err == "camerapose view: error: `camerapose view` needs aiohttp: pip install 'camerapose[view]'\n"


def test_run_view_on_a_public_address_is_refused_before_starting(capsys) -> None:
    assert main(["run", "--view", "0.0.0.0:8765"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("camerapose run: error: --http 0.0.0.0:8765: serving on a non-loopback")


# -- the page ----------------------------------------------------------------------------------------
def test_the_page_files_ship_as_package_data() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    data = config["tool"]["setuptools"]["package-data"]["camerapose.runtime.viewer.static"]
    assert {"*.html", "*.js", "*.css"} <= set(data)
    assert {"camerapose.runtime.viewer", "camerapose.runtime.viewer.static"} <= \
        set(config["tool"]["setuptools"]["packages"])
    assert config["project"]["optional-dependencies"]["view"] == ["aiohttp>=3.9"]
    assert {p.name for p in STATIC.iterdir()} >= {"index.html", "viewer.js", "style.css"}


def test_the_page_loads_nothing_from_the_internet() -> None:
    for path in STATIC.iterdir():
        text = path.read_text()
        assert not re.search(r"(https?:)?//[\w.-]+\.\w+/", text), f"{path.name} refers to another host"
        assert "@import" not in text and "import(" not in text
    html = (STATIC / "index.html").read_text()
    assert re.findall(r'(?:src|href)="([^"]+)"', html) == ["/static/style.css", "/static/viewer.js"]
