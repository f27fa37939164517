"""The Python client: iterate over a running pose stream as decoded messages with numpy arrays.

    from camerapose.runtime import subscribe
    for msg in subscribe("tcp://127.0.0.1:5555", streams=["0"]):
        for p in msg["persons"]:
            print(msg["frame"], p["id"], p["kp3d"][0], p["camera"]["fx"])

The world stream (`run --calibration`; stream "world", `schema.is_world`) comes like any other:
its persons have kp3d in the calibration's world frame, views, reproj_px, single_view and tracks
instead of kp2d, conf and camera (docs/schema.md); `summary_line` prints either kind.

`streams` are exact names: ZeroMQ filters topics by prefix (`pose.cam` also lets `pose.cam2`
through), so the client compares each topic with the wanted ones and drops the others. Messages
that are not valid schema-v1 payloads are skipped with a warning (`strict=True` raises SchemaError
instead). `timeout` (seconds) ends the iteration when nothing of the wanted streams arrives for
that long (TIMEOUT_RANGE: 10 ms to a week; None waits forever). A peer that sends a frame over
MAX_MESSAGE_BYTES is disconnected by ZeroMQ before it is read, so no peer can make the client
allocate more than that.
"""

from __future__ import annotations

import logging
import numbers
import time
from collections.abc import Iterator, Sequence
from typing import Any

import zmq

from camerapose.core.config import range_message
from camerapose.core.errors import InputError
from camerapose.runtime.wire.schema import MAX_MESSAGE_BYTES, SchemaError, decode, is_world, printable, topic

log = logging.getLogger(__name__)
TIMEOUT_RANGE = (0.01, 604800.0)  # seconds of silence that end a subscription: 10 ms to a week


def subscribe(
    endpoint: str = "tcp://127.0.0.1:5555",
    streams: Sequence[str] | None = None,
    timeout: float | None = None,
    strict: bool = False,
    server_key: str | bytes | None = None,
    raw: bool = False,
    hwm: int = 1000,
) -> Iterator[Any]:
    """Yield decoded messages (or, with raw=True, (topic, payload) bytes pairs) from `endpoint`.

    The socket is connected at the call: a bad endpoint, server key or timeout raises InputError here."""
    timeout = check_timeout(timeout, "subscribe")
    return receive(connect(endpoint, streams, server_key, hwm), streams, timeout, strict, raw)


HWM_RANGE = (1, 1_000_000)  # messages a subscriber queues: as the publisher's publish.hwm


def summary_line(msg: dict[str, Any]) -> str:
    """One decoded message as one short line: stream, frame, latency, then per person its id and
    pelvis (m), and its focal length (px) for a camera's person, or for a world person the cameras
    that saw it (views of the pelvis) and their mean reprojection error (px). The stream name is
    escaped: it comes from the network."""
    if is_world(msg):
        people = "  ".join(
            "id {} pelvis ({:+.2f},{:+.2f},{:+.2f}) m {} views {:.1f} px{}".format(
                p["id"], *p["kp3d"][0], int(p["views"][0]), _mean_reprojection(p),
                " single-view" if p["single_view"] else "")
            for p in msg["persons"]
        )
    else:
        people = "  ".join(
            "id {} pelvis ({:+.2f},{:+.2f},{:+.2f}) m f {:.0f}".format(p["id"], *p["kp3d"][0],
                                                                       p["camera"]["fx"])
            for p in msg["persons"]
        )
    return (
        f"{printable(msg['stream'])} #{msg['frame']} {msg['timings'].get('total', 0):.1f} ms "
        f"{len(msg['persons'])} persons  {people}"
    )


def _mean_reprojection(p: dict[str, Any]) -> float:
    """A world person's mean reprojection error (px) over its triangulated joints (0 if none)."""
    seen = p["views"] > 0
    return float(p["reproj_px"][seen].mean()) if seen.any() else 0.0


def check_timeout(timeout: float | None, who: str) -> float | None:
    """None, or `timeout` as float seconds in TIMEOUT_RANGE; else InputError naming `who`."""
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, numbers.Real):
        raise InputError(f"{who}: timeout must be a number of seconds or None, got {timeout!r}")
    lo, hi = TIMEOUT_RANGE
    if not lo <= timeout <= hi:
        raise InputError(f"{who}: timeout {range_message(lo, hi, timeout)} (seconds)")
    return float(timeout)


def connect(
    endpoint: str,
    streams: Sequence[str] | None = None,
    server_key: str | bytes | None = None,
    hwm: int = 1000,
    ctx: zmq.Context | None = None,
) -> zmq.Socket:
    """A SUB socket connected to `endpoint` and subscribed to the topics of `streams` (all when
    None), from `ctx` (default the process's shared context; a `zmq.asyncio.Context` gives an asyncio
    socket). InputError if ZeroMQ cannot parse the endpoint or the key is not a CURVE public key."""
    if isinstance(hwm, bool) or not isinstance(hwm, numbers.Integral) or not 1 <= hwm <= HWM_RANGE[1]:
        raise InputError(f"subscribe: hwm (messages queued) {range_message(*HWM_RANGE, hwm)}")
    sock = (ctx or zmq.Context.instance()).socket(zmq.SUB)
    try:
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.RCVHWM, int(hwm))
        sock.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
        if server_key:
            _set_server_key(sock, server_key)
        for s in streams or [""]:
            sock.setsockopt(zmq.SUBSCRIBE, topic(s))
        try:
            sock.connect(endpoint)
        except zmq.ZMQError as err:
            raise InputError(
                f"cannot connect to {endpoint!r} ({zmq.strerror(err.errno)}); expected tcp://HOST:PORT or ipc://PATH"
            ) from None
    except BaseException:
        sock.close(0)
        raise
    return sock


def _set_server_key(sock: zmq.Socket, key: str | bytes) -> None:
    """Make `sock` a CURVE client of the server whose public key is `key` (40 Z85 characters)."""
    z85 = key.strip().encode() if isinstance(key, str) else bytes(key)
    if not zmq.has("curve"):
        raise InputError("this ZeroMQ library has no CURVE support: a server key cannot be used")
    try:
        if len(z85) != 40:
            raise ValueError
        sock.curve_serverkey = z85
    except (ValueError, zmq.ZMQError):
        raise InputError(
            "server key: expected the publisher's public CURVE key, 40 Z85 characters (zmq.curve_keypair())"
        ) from None
    sock.curve_publickey, sock.curve_secretkey = zmq.curve_keypair()


def receive(
    sock: zmq.Socket,
    streams: Sequence[str] | None = None,
    timeout: float | None = None,
    strict: bool = False,
    raw: bool = False,
) -> Iterator[Any]:
    """`subscribe`'s messages from a socket made by `connect`, which it closes at the end."""
    wanted = {topic(s) for s in streams} if streams else None
    poller = zmq.Poller()
    poller.register(sock, zmq.POLLIN)
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        while True:
            wait = None if deadline is None else max(0, int((deadline - time.monotonic()) * 1000))
            if not poller.poll(wait):
                return
            parts = sock.recv_multipart()
            if wanted is not None and parts[0] not in wanted:
                continue  # a longer stream name with a wanted one as prefix: not ours
            if timeout is not None:
                deadline = time.monotonic() + timeout
            if len(parts) != 2:
                if strict:
                    raise SchemaError(f"expected 2 frames (topic, payload), got {len(parts)}")
                log.warning("skipping a message of %d frames", len(parts))
                continue
            if raw:
                yield parts[0], parts[1]
                continue
            try:
                msg = decode(parts[1])
            except SchemaError as err:
                if strict:
                    raise
                log.warning("skipping an invalid message on %s: %s", parts[0][:64], printable(str(err)))
                continue
            yield msg
    finally:
        sock.close(0)
