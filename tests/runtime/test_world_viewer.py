"""The viewer and the world stream (fast): what the page gets for a world message, the bridge passing
it on, and the page's world geometry (its up axis to the drawing's y, the cameras' centres and rays)
run in Node.js when it is installed. The page itself in a browser: test_viewer_browser.py."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from camerapose.runtime.viewer.bridge import view_json, world_json
from camerapose.runtime.wire import schema

from .test_world_files import FILLED, PEOPLE, rig, world_raw

STATIC = Path(__file__).resolve().parents[2] / "runtime" / "viewer" / "static"


def world_msg(frame: int = 0) -> dict:
    return schema.decode(schema.pack(world_raw(frame)))


def test_a_world_message_becomes_the_world_views_json() -> None:
    msg = world_msg()
    out = view_json(msg, fps=60.0)
    assert out == world_json(msg, 60.0)
    assert json.loads(json.dumps(out, allow_nan=False)) == out
    assert out["type"] == "world" and out["stream"] == "world" and out["frame"] == 0
    assert "image_size" not in out
    assert out["up"] == [0, 0, 1] and out["fps"] == 60.0 and out["timings"] == {"fuse": 2.5, "total": 50.0}
    assert [c["name"] for c in out["cameras"]] == ["cam_a", "cam_b"]
    cam = out["cameras"][0]
    assert cam["K"] == [600.0, 600.0, 640.0, 360.0] and cam["size"] == [1280, 720] and len(cam["R"]) == 3
    one = out["persons"][0]
    assert one["id"] == 1 and one["tracks"] == {"0": 5, "1": 8} and one["single_view"] is False
    assert one["views"][FILLED] == 0 and one["views"][0] == 2
    assert all(isinstance(v, int) for v in one["views"])
    assert one["reproj_px"] == 3.1  # the mean over the triangulated joints: the filled one left out
    np.testing.assert_allclose(one["kp3d"], PEOPLE[1][0], atol=0.0005 + 1e-7)


def test_a_world_person_seen_by_no_pair_and_non_finite_joints_stay_valid_json() -> None:
    raw = world_raw(0)
    kp = PEOPLE[1][0].copy()
    kp[4, 2] = np.nan
    raw["persons"] = [schema.world_person(3, 0.5, kp, np.zeros(17), np.zeros(17), True, {"0": 4})]
    out = view_json(schema.decode(schema.pack(raw)), fps=0.0)
    json.dumps(out, allow_nan=False)
    p = out["persons"][0]
    assert p["kp3d"][4][2] is None and p["reproj_px"] is None and p["single_view"] is True


def test_the_bridge_passes_the_world_stream_on(rng) -> None:
    server = pytest.importorskip("camerapose.runtime.viewer.server")
    viewer = server.Viewer("tcp://127.0.0.1:5555")
    got: list[tuple[str, str]] = []

    class Page:
        def offer(self, stream: str, text: str) -> None:
            got.append((stream, text))

    viewer.clients.add(Page())
    viewer.dispatch(b"pose.world", schema.pack(world_raw(1)))
    assert viewer.pumped == 1 and [s for s, _ in got] == ["world"]
    assert json.loads(got[0][1])["type"] == "world"


def test_the_page_has_the_world_view() -> None:
    js = (STATIC / "viewer.js").read_text()
    for name in ("worldMapping", "drawWorldCamera", "drawWorldGrid", "frameWorld", "userPicked"):
        assert name in js
    assert 'id="mode"' in (STATIC / "index.html").read_text()


def _function(js: str, name: str) -> str:
    """The source of a top-level `function name(...) {...}` of viewer.js (ends at a line `}`)."""
    m = re.search(rf"^function {name}\(.*?^\}}$", js, re.S | re.M)
    assert m, name
    return m.group(0)


def test_the_pages_world_geometry_in_node() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed")
    js = (STATIC / "viewer.js").read_text()
    R, t = rig()[0][2], rig()[0][3]
    script = "\n".join([_function(js, n) for n in ("worldMapping", "cameraCentre", "cameraRay")] + [
        f"const cam = {{K: [600, 600, 640, 360], R: {json.dumps(R.tolist())}, t: {json.dumps(t.tolist())}}};",
        "const out = {z: worldMapping([0, 0, 1])([1, 2, 3]), y: worldMapping([0, 1, 0])([1, 2, 3]),",
        "  zdown: worldMapping([0, 0, -1])([1, 2, 3]), x: worldMapping([1, 0, 0])([1, 2, 3]),",
        "  centre: cameraCentre(cam), ray: cameraRay(cam, 640, 360)};",
        "console.log(JSON.stringify(out));",
    ])
    out = json.loads(subprocess.run([node, "-e", script], capture_output=True, text=True, timeout=30,
                                    check=True).stdout)
    # the drawing world is (right, up, away), a mirror of a right-handed frame as the camera view's
    # (x, -y, z): z up -> (x, z, y); y up -> (z, y, x); z down -> (y, -z, x); x up -> (y, x, z)
    assert out["z"] == [1, 3, 2] and out["y"] == [3, 2, 1]
    assert out["zdown"] == [2, -3, 1] and out["x"] == [2, 1, 3]
    np.testing.assert_allclose(out["centre"], [0, -5, 1.5], atol=1e-12)  # -R^T t
    np.testing.assert_allclose(out["ray"], R[2], atol=1e-12)  # the principal ray: the camera's z in the world
