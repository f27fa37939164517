"""The viewer's server over real sockets (no browser): a stalled page never holds the stream back,
and `camerapose view` serves the page and the stream of the exact streams asked for."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

from camerapose.runtime.wire import schema
from camerapose.runtime.wire.publisher import PublishConfig, Publisher

from .conftest import free_port
from .test_schema import make_message

pytestmark = pytest.mark.slow  # sockets, an event loop, a process: not in `make test-fast`
aiohttp = pytest.importorskip("aiohttp")


def payloads(rng: np.random.Generator, n: int, persons: int, stream: str = "cam") -> list[bytes]:
    base = make_message(rng, persons)
    return [schema.pack({**base, "stream": stream, "frame": i, "t_capture": 10 + i / 50,
                         "t_publish": 10.02 + i / 50}) for i in range(n)]  # 50 messages/s


async def wait_for_subscriber(pub: Publisher, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not pub.poll_subscriptions():
        assert time.monotonic() < deadline, "the viewer never subscribed"
        await asyncio.sleep(0.02)


def test_a_stalled_page_gets_only_the_newest_and_the_viewer_reads_every_message(rng) -> None:
    from camerapose.runtime.viewer.server import Viewer, make_app

    n = 1500  # about 25 MB of JSON at 30 persons a message: more than the sockets between can hold
    sent = payloads(rng, n + 1, persons=30)
    endpoint = f"tcp://127.0.0.1:{free_port()}"

    async def scenario() -> tuple[Viewer, list[dict]]:
        pub = Publisher(PublishConfig(endpoint=endpoint, hwm=100_000))
        viewer = Viewer(endpoint, ["cam"])
        runner = aiohttp.web.AppRunner(make_app(viewer))
        await runner.setup()
        site = aiohttp.web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            async with aiohttp.ClientSession() as session, \
                    session.ws_connect(f"http://127.0.0.1:{port}/ws") as ws:
                assert (await ws.receive_json())["type"] == "hello"
                await wait_for_subscriber(pub)
                for payload in sent[:n]:  # the page reads nothing meanwhile
                    pub.send("cam", payload)
                    await asyncio.sleep(0.001)
                deadline = time.monotonic() + 60
                while viewer.pumped < n and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
                pub.send("cam", sent[n])  # the newest, after the burst
                got = []
                while not got or got[-1]["frame"] != n:
                    got.append(json.loads((await ws.receive(timeout=20)).data))
                return viewer, got
        finally:
            await runner.cleanup()
            pub.close()

    viewer, got = asyncio.run(scenario())
    assert viewer.pumped == n + 1  # the stream was read at its own pace, every message
    frames = [m["frame"] for m in got]
    assert frames == sorted(frames) and frames[-1] == n
    assert len(frames) < n // 2, f"{len(frames)} of {n}: the page's backlog was queued"


def test_view_command_serves_the_page_and_only_the_streams_asked_for(rng) -> None:
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    pub = Publisher(PublishConfig(endpoint=endpoint))
    proc = subprocess.Popen(
        [sys.executable, "-m", "camerapose", "view", "--endpoint", endpoint, "--stream", "cam",
         "--http", "127.0.0.1:0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("camerapose view: http://127.0.0.1:"), line + proc.stderr.read()
        url = line.split()[2]
        page = urllib.request.urlopen(url, timeout=10).read().decode()
        assert 'id="frames"' in page and 'id="view"' in page
        for name in ("viewer.js", "style.css"):
            assert urllib.request.urlopen(f"{url}static/{name}", timeout=10).status == 200
        other_site = urllib.request.Request(f"{url}ws", headers={"Origin": "https://evil.example"})
        with pytest.raises(urllib.error.HTTPError, match="403"):
            urllib.request.urlopen(other_site, timeout=10)
        cam, cam2 = payloads(rng, 200, 2), payloads(rng, 200, 2, stream="cam2")

        async def read_page() -> list[dict]:
            async with aiohttp.ClientSession() as session, session.ws_connect(f"{url}ws") as ws:
                hello = await ws.receive_json()
                assert hello["streams"] == ["cam"] and hello["endpoint"] == endpoint
                await wait_for_subscriber(pub)

                async def publish() -> None:
                    for a, b in zip(cam, cam2, strict=True):
                        pub.send("cam2", b)  # "cam" is its prefix: ZeroMQ passes it, the viewer must not
                        pub.send("cam", a)
                        await asyncio.sleep(0.01)

                sending = asyncio.create_task(publish())
                got = []
                while len(got) < 20:
                    got.append(json.loads((await ws.receive(timeout=10)).data))
                sending.cancel()
                return got

        got = asyncio.run(read_page())
        assert len(got) >= 20 and {m["stream"] for m in got} == {"cam"}
        assert all(len(m["persons"]) == 2 and len(m["persons"][0]["kp3d"]) == 17 for m in got)
        assert proc.poll() is None  # the page closed; the viewer goes on
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0, proc.stderr.read()
        assert "Traceback" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        pub.close()



@pytest.mark.assets
def test_run_view_starts_the_viewer_beside_the_runtime_and_stops_it_with_the_runtime(
    demo_video, pose_model, port: int
) -> None:
    from .test_viewer_browser import lines_of, wait_for_url

    endpoint = f"tcp://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "camerapose", "run", "--source", str(demo_video), "--loop", "--model",
         str(pose_model), "--publish", endpoint, "--stats-every", "0", "--view", "127.0.0.1:0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        url = wait_for_url(lines_of(proc))

        async def read_page() -> list[dict]:
            async with aiohttp.ClientSession() as session, session.ws_connect(f"{url}ws") as ws:
                return [json.loads((await ws.receive(timeout=90)).data) for _ in range(4)]

        got = asyncio.run(read_page())
        assert got[0]["type"] == "hello" and all(m["type"] == "pose" and m["stream"] == "0" for m in got[1:])
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
        with pytest.raises(OSError):  # the viewer went with the runtime
            urllib.request.urlopen(url, timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_view_shows_a_replayed_recording(tmp_path, rng) -> None:
    import msgpack

    from camerapose.runtime.wire.record import MAGIC

    recording = tmp_path / "walk.cprec"
    with open(recording, "wb") as f:
        f.write(MAGIC)
        for i, payload in enumerate(payloads(rng, 40, 2)):
            f.write(msgpack.packb([i / 50, b"pose.cam", payload], use_bin_type=True))
    endpoint = f"ipc://{tmp_path}/pose.sock"
    replay = subprocess.Popen([sys.executable, "-m", "camerapose", "replay", str(recording), "--publish",
                               endpoint, "--loop"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    view = subprocess.Popen([sys.executable, "-m", "camerapose", "view", "--endpoint", endpoint,
                             "--http", "127.0.0.1:0"], stdout=subprocess.PIPE, text=True)
    try:
        url = view.stdout.readline().split()[2]

        async def read_page() -> list[dict]:
            async with aiohttp.ClientSession() as session, session.ws_connect(f"{url}ws") as ws:
                return [json.loads((await ws.receive(timeout=20)).data) for _ in range(30)]

        got = asyncio.run(read_page())[1:]
        assert all(m["type"] == "pose" and m["stream"] == "cam" for m in got)
        assert got[-1]["fps"] == pytest.approx(50, rel=0.2)  # the recording's rate, from t_publish
    finally:
        for proc in (view, replay):
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("case", ["port in use", "endpoint refused"])
def test_view_that_cannot_start_is_one_line_exit_2(case: str) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        http, endpoint = f"127.0.0.1:{busy.getsockname()[1]}", "tcp://127.0.0.1:5555"
        if case == "endpoint refused":
            http, endpoint = "127.0.0.1:0", "ipc://" + "x" * 200  # longer than a socket path can be
        proc = subprocess.run([sys.executable, "-m", "camerapose", "view", "--endpoint", endpoint,
                               "--http", http], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("camerapose view: error: cannot ") and proc.stderr.count("\n") == 1
