"""The viewer's pure parts: which topics it wants, what the browser gets, and newest-wins delivery.

Nothing here does I/O or imports aiohttp, so it is testable (and importable) without the `view`
extra. The browser gets compact JSON: metres rounded to the millimetre, milliseconds to 0.1.
"""

from __future__ import annotations

import math
import re
from collections import deque
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from camerapose.core.errors import InputError
from camerapose.core.skeleton import BONES
from camerapose.runtime.wire.publisher import LOOPBACK
from camerapose.runtime.wire.schema import TOPIC_PREFIX, is_world

MAX_STREAMS = 64  # streams the viewer follows at once (a mailbox holds one message per stream)


def parse_http(addr: str, allow_remote: bool) -> tuple[str, int]:
    """"HOST:PORT" -> (host, port) to serve the page on; loopback unless allow_remote (the same
    rule as the stream's bind). Port 0 = any free port. InputError on anything else."""
    m = re.fullmatch(r"(\[[0-9a-fA-F:]+\]|[^:/\s\[\]]+):(\d{1,5})", addr)
    if not m or int(m.group(2)) > 65535:
        raise InputError(f"--http {addr!r}: expected HOST:PORT (port 0..65535)")
    host, port = m.group(1), int(m.group(2))
    if host not in LOOPBACK and not allow_remote:
        raise InputError(
            f"--http {addr}: serving on a non-loopback address shows the stream to the network; "
            "pass --allow-remote to do it"
        )
    return host.strip("[]"), port


def request_allowed(host: str, origin: str | None, allow_remote: bool) -> bool:
    """Whether to answer an HTTP request with this Host header and Origin header (None: not sent,
    as by non-browser clients). A web page elsewhere must not read the stream through the user's
    browser: a WebSocket may be opened from any origin, so a browser's Origin must be this very
    host; and on loopback the Host must be a loopback name too, so a DNS name rebound to 127.0.0.1
    is refused."""
    if origin is not None and urlsplit(origin).netloc != host:
        return False
    name = host[: host.index("]") + 1] if host.startswith("[") and "]" in host else host.rpartition(":")[0]
    return allow_remote or (name or host) in LOOPBACK


def stream_of(topic: bytes, streams: set[str] | None) -> str | None:
    """The stream name of a topic `pose.<name>`, or None if it is not one we follow. Exact match:
    following "cam" must not show "cam2" (ZeroMQ's subscriptions only match prefixes)."""
    if not topic.startswith(TOPIC_PREFIX.encode()):
        return None
    try:
        name = topic[len(TOPIC_PREFIX):].decode()
    except UnicodeDecodeError:
        return None
    return name if streams is None or name in streams else None


class RateMeter:
    """Messages per second of one stream, from its t_publish over the last `window` seconds."""

    def __init__(self, window: float = 2.0) -> None:
        self.window = window
        self.times: deque[float] = deque(maxlen=4096)
        self.rate = 0.0  # the last rate measured

    def add(self, t: float) -> float:
        """Record a message published at `t` (s); returns the current rate (0 until two arrive;
        after the publisher's clock went back, the rate measured before until two more arrive)."""
        if self.times and t < self.times[-1]:
            self.times.clear()  # the publisher's clock went back: a replay started over, a new run
        self.times.append(t)
        while t - self.times[0] > self.window:
            self.times.popleft()
        span = self.times[-1] - self.times[0]
        if span > 0:
            self.rate = (len(self.times) - 1) / span
        return self.rate


class Mailbox:
    """One browser's pending messages: at most the newest per stream. A slow browser finds only
    the latest when it is ready again; older ones are replaced (counted), never queued."""

    def __init__(self) -> None:
        self._items: dict[str, Any] = {}
        self.replaced = 0

    def put(self, stream: str, item: Any) -> None:
        if stream in self._items:
            self.replaced += 1
        self._items[stream] = item

    def take(self) -> list[Any]:
        """Every pending item (one per stream, in the order streams first arrived); empties the box."""
        items = list(self._items.values())
        self._items.clear()
        return items

    def __len__(self) -> int:
        return len(self._items)


def _rounded(values: list, digits: int) -> list:
    """Nested lists of floats rounded; a non-finite value becomes None (JSON has no NaN)."""
    return [
        _rounded(v, digits) if isinstance(v, list) else (round(v, digits) if math.isfinite(v) else None)
        for v in values
    ]


def _header_json(msg: dict[str, Any], fps: float) -> dict[str, Any]:
    dropped = msg.get("dropped")
    return {
        "stream": msg["stream"],
        "frame": msg["frame"],
        "fps": round(fps, 1),
        "latency_ms": round((msg["t_publish"] - msg["t_capture"]) * 1000.0, 1),
        "timings": {k: round(v, 1) for k, v in msg["timings"].items()},
        "dropped": dropped if isinstance(dropped, int) and not isinstance(dropped, bool) else None,
    }


def view_json(msg: dict[str, Any], fps: float) -> dict[str, Any]:
    """A decoded pose message (runtime/wire/schema.py `decode`) -> what the page draws.

    {"type": "pose", "stream", "frame", "image_size": [w, h], "fps", "latency_ms" (glass to
    publish), "timings": {stage: ms}, "dropped": int | None, "persons": [{"id", "score",
    "kp3d": (17, 3) m, "camera": {"fx", "fy", "cx", "cy" px, "t": (3,) m, "source"}}]}

    A message of the world stream (`schema.is_world`) -> `world_json`.
    """
    if is_world(msg):
        return world_json(msg, fps)
    return {
        "type": "pose",
        **_header_json(msg, fps),
        "image_size": list(msg["image_size"]),
        "persons": [
            {
                "id": p["id"],
                "score": round(p["score"], 2),
                "kp3d": _rounded(p["kp3d"].tolist(), 3),
                "camera": {
                    **{k: round(p["camera"][k], 1) for k in ("fx", "fy", "cx", "cy")},
                    "t": _rounded(p["camera"]["t"].tolist(), 3),
                    "source": p["camera"]["source"][:16],
                },
            }
            for p in msg["persons"]
        ],
    }


def world_json(msg: dict[str, Any], fps: float) -> dict[str, Any]:
    """A decoded message of the world stream -> what the page draws in the world view.

    {"type": "world", "stream", "frame", "fps", "latency_ms", "timings", "dropped" (as `view_json`),
    "up": [x, y, z] the world axis that is up (the cameras' mean up, files/ground.py `world_up`:
    Qualisys +z), "cameras": [{"name", "stream", "K": [fx, fy, cx, cy] px, "R": (3, 3), "t": (3,) m
    (x_cam = R x_world + t), "size": [w, h]}], "persons": [{"id", "score", "kp3d": (17, 3) m in the
    world frame, "views": (17,) ints (0: filled from a monocular pose), "reproj_px": mean over its
    triangulated joints, "single_view", "tracks": {stream: track id}}]}
    """
    from camerapose.runtime.files.ground import world_up

    axis, sign = world_up(msg["cameras"])
    persons = []
    for p in msg["persons"]:
        seen = p["views"] > 0
        reproj = float(p["reproj_px"][seen].mean()) if seen.any() else None
        persons.append({
            "id": p["id"],
            "score": round(p["score"], 2),
            "kp3d": _rounded(p["kp3d"].tolist(), 3),
            "views": [int(v) if math.isfinite(v) else 0 for v in p["views"].tolist()],
            "reproj_px": round(reproj, 1) if reproj is not None and math.isfinite(reproj) else None,
            "single_view": bool(p["single_view"]),
            "tracks": {str(k)[:64]: int(v) for k, v in p["tracks"].items()},
        })
    return {
        "type": "world",
        **_header_json(msg, fps),
        "up": [sign if k == axis else 0 for k in range(3)],
        "cameras": [
            {
                "name": str(c["name"])[:64],
                "stream": str(c["stream"])[:64],
                "K": _rounded(np.asarray(c["K"], np.float64).tolist(), 2),
                "R": _rounded(np.asarray(c["R"], np.float64).tolist(), 6),
                "t": _rounded(np.asarray(c["t"], np.float64).tolist(), 4),
                "size": [int(v) for v in c["size"]],
            }
            for c in msg["cameras"]
        ],
        "persons": persons,
    }


def hello_json(endpoint: str, streams: set[str] | None) -> dict[str, Any]:
    """The first message of every WebSocket: where the poses come from and the skeleton's bones."""
    return {
        "type": "hello",
        "endpoint": endpoint,
        "streams": sorted(streams) if streams is not None else None,
        "bones": [list(b) for b in BONES],
    }
