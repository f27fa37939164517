"""The publisher's bind: an ipc:// endpoint in use is refused like a tcp port in use (issue 21, item 3);
a stale ipc socket file nobody listens on is reused."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
import zmq

from camerapose.core.errors import InputError
from camerapose.runtime.wire.publisher import PublishConfig, Publisher, ipc_in_use


def reaches_a_subscriber(pub: Publisher, timeout: float = 5.0) -> bool:
    """Whether a SUB connecting to the publisher's endpoint gets a message from it."""
    sub = zmq.Context.instance().socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.setsockopt(zmq.LINGER, 0)
    sub.connect(pub.cfg.endpoint)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pub.send("0", b"hello")
            if sub.poll(50):
                return sub.recv_multipart()[1] == b"hello"
        return False
    finally:
        sub.close(0)


def test_ipc_endpoint_in_use_is_refused_like_a_tcp_port_and_the_first_keeps_it(tmp_path: Path) -> None:
    endpoint = f"ipc://{tmp_path}/pose.sock"
    first = Publisher(PublishConfig(endpoint=endpoint))
    try:
        # before: ZeroMQ unlinked the first one's socket file and bound again, silently
        with pytest.raises(InputError, match=rf"^cannot publish on {endpoint}: address already in use"):
            Publisher(PublishConfig(endpoint=endpoint))
        assert reaches_a_subscriber(first), "the first publisher lost its endpoint"
    finally:
        first.close()


def test_a_stale_ipc_socket_file_with_no_listener_is_reused(tmp_path: Path) -> None:
    path = tmp_path / "pose.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.bind(str(path))  # a socket file left behind: nothing listens on it any more
    assert path.exists() and not ipc_in_use(f"ipc://{path}")
    pub = Publisher(PublishConfig(endpoint=f"ipc://{path}"))
    try:
        assert reaches_a_subscriber(pub)
    finally:
        pub.close()


def test_ipc_in_use_only_for_a_listening_socket(tmp_path: Path) -> None:
    path = tmp_path / "x.sock"
    assert not ipc_in_use(f"ipc://{path}")  # absent
    path.write_text("a plain file")
    assert not ipc_in_use(f"ipc://{path}")  # not a socket: ZeroMQ's bind reports what it makes of it
    path.unlink()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.bind(str(path))
        s.listen()
        assert ipc_in_use(f"ipc://{path}")
    assert not ipc_in_use("tcp://127.0.0.1:5555")
