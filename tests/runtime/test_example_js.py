"""The JavaScript example subscriber (examples/js) against a live runtime.

Needs Node.js and the npm packages `zeromq` and `@msgpack/msgpack` (installed by `npm install` in
examples/js; this test runs it once if they are missing). Skips with the reason if either is absent.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import REPO, start_runtime

pytestmark = pytest.mark.slow  # processes, models or training: not in `make test-fast`

JS = REPO / "examples" / "js"


@pytest.fixture(scope="module")
def node() -> str:
    exe = shutil.which("node")
    if exe is None:
        pytest.skip("Node.js is not installed (apt-get install nodejs npm)")
    if not (JS / "node_modules" / "zeromq").is_dir() or not (JS / "node_modules" / "@msgpack").is_dir():
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip("npm is not installed; cannot install the example's packages")
        try:
            r = subprocess.run(
                [npm, "install", "--no-audit", "--no-fund", "--fetch-retries=1", "--fetch-timeout=30000"],
                cwd=JS, capture_output=True, text=True, timeout=180,
            )
        except subprocess.TimeoutExpired:
            pytest.skip("`npm install` in examples/js did not finish in 180 s (no npm registry?)")
        if r.returncode != 0:
            pytest.skip(f"`npm install` in examples/js failed: {r.stderr.strip().splitlines()[-1:]}")
    r = subprocess.run(
        [exe, "-e", "require('zeromq'); require('@msgpack/msgpack')"], cwd=JS, capture_output=True, text=True
    )
    if r.returncode != 0:
        pytest.skip(f"the npm package zeromq does not load here: {r.stderr.strip().splitlines()[-1:]}")
    return exe


@pytest.mark.assets
def test_js_subscriber_decodes_a_live_stream(
    node: str, demo_video: Path, pose_model: Path, port: int
) -> None:
    endpoint = f"tcp://127.0.0.1:{port}"
    sub = subprocess.Popen(
        [node, "subscriber.js", "--endpoint", endpoint, "--count", "5", "--json"],
        cwd=JS,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    run = start_runtime(["--source", str(demo_video), "--every-frame", "--model", str(pose_model)], endpoint)
    try:
        out, err = sub.communicate(timeout=90)
    finally:
        run.terminate()
        log = run.communicate(timeout=30)[0]
    assert sub.returncode == 0, err + log
    msgs = [json.loads(line) for line in out.splitlines()]
    assert [m["frame"] for m in msgs] == [0, 1, 2, 3, 4]
    assert all(m["topic"] == "pose.0" and m["image_size"] == [1768, 994] for m in msgs)
    assert [(m["fps"], m["t_media"]) for m in msgs] == [(30.0, f / 30) for f in range(5)]  # the video's clock
    persons = [p for m in msgs for p in m["persons"]]
    assert persons, "no person decoded"
    for p in persons:
        assert len(p["kp3d"]) == 17 and all(len(j) == 3 and j[2] > 0 for j in p["kp3d"])
        assert p["camera"]["fx"] > 0 and len(p["camera"]["t"]) == 3


def test_js_subscriber_keeps_only_its_exact_stream(node: str, port: int, rng, publishing) -> None:
    from .test_publish_record import named

    endpoint = f"tcp://127.0.0.1:{port}"
    with publishing(endpoint, [("cam2", named("cam2", rng)), ("cam", named("cam", rng))]):
        r = subprocess.run(
            [node, "subscriber.js", "--endpoint", endpoint, "--stream", "cam", "--count", "6", "--json"],
            cwd=JS, capture_output=True, text=True, timeout=60,
        )
    assert r.returncode == 0, r.stderr
    msgs = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(msgs) == 6 and all(m["topic"] == "pose.cam" and m["stream"] == "cam" for m in msgs)
