"""The Python client: iterate over a running pose stream as decoded messages with numpy arrays.

    from camerapose.runtime import subscribe
    for msg in subscribe("tcp://127.0.0.1:5555", streams=["0"]):
        for p in msg["persons"]:
            print(msg["frame"], p["id"], p["kp3d"][0], p["camera"]["fx"])

Messages that are not valid schema-v1 payloads are skipped with a warning (`strict=True` raises
SchemaError instead). `timeout` (seconds) ends the iteration when nothing arrives for that long.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any

import zmq

from camerapose.runtime.wire.schema import TOPIC_PREFIX, SchemaError, decode

log = logging.getLogger(__name__)


def subscribe(
    endpoint: str = "tcp://127.0.0.1:5555",
    streams: Sequence[str] | None = None,
    timeout: float | None = None,
    strict: bool = False,
    server_key: str | bytes | None = None,
    raw: bool = False,
    hwm: int = 1000,
) -> Iterator[dict[str, Any]]:
    """Yield decoded messages (or, with raw=True, (topic, payload) bytes pairs) from `endpoint`."""
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.SUB)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVHWM, hwm)
    if server_key:
        sock.curve_serverkey = server_key.encode() if isinstance(server_key, str) else server_key
        sock.curve_publickey, sock.curve_secretkey = zmq.curve_keypair()
    for s in streams or [""]:
        sock.setsockopt(zmq.SUBSCRIBE, (TOPIC_PREFIX + s).encode())
    sock.connect(endpoint)
    poller = zmq.Poller()
    poller.register(sock, zmq.POLLIN)
    try:
        while True:
            if not poller.poll(None if timeout is None else int(timeout * 1000)):
                return
            parts = sock.recv_multipart()
            if len(parts) != 2:
                if strict:
                    raise SchemaError(f"expected 2 frames (topic, payload), got {len(parts)}")
                log.warning("skipping a message of %d frames", len(parts))
                continue
            if raw:
                yield parts[0], parts[1]
                continue
            try:
                yield decode(parts[1])
            except SchemaError as err:
                if strict:
                    raise
                log.warning("skipping an invalid message on %s: %s", parts[0][:64], err)
    finally:
        sock.close(0)
