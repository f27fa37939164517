"""The ZeroMQ publisher: one PUB (XPUB) socket, topic `pose.<stream>`, never blocking the pipeline.

- The socket is an XPUB so it can see subscriptions arrive (`--wait-subscriber`); to a
  subscriber it is an ordinary PUB: any ZeroMQ SUB in any language connects to it.
- SNDHWM bounds the queue of each subscriber: a slow subscriber loses messages, the pipeline never
  waits (XPUB drops, it does not block).
- tcp binds on loopback unless `allow_remote`; then optionally CURVE (a Z85 secret key file).
- An endpoint in use is refused, ipc:// as tcp:// (ZeroMQ itself would take an ipc path over from
  the process listening on it: `ipc_in_use`); a stale ipc socket file nobody listens on is reused.
- Anything a peer sends that is not a subscription is counted and ignored; a peer that does not
  speak ZMTP, or sends a frame over MAX_SUBSCRIPTION_BYTES, is dropped by ZeroMQ itself.
"""

from __future__ import annotations

import logging
import re
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from camerapose.core.config import check_ranges
from camerapose.core.errors import InputError
from camerapose.runtime.wire.schema import MAX_SUBSCRIPTION_BYTES, topic

if TYPE_CHECKING:
    import zmq

LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")
IN_USE = "address already in use (another runtime?)"


@dataclass(frozen=True)
class PublishConfig:
    """endpoint: where the PUB socket binds (tcp://HOST:PORT or ipc://PATH); hwm: messages queued per
    subscriber before that subscriber starts losing them (the pipeline never waits); allow_remote:
    permit a non-loopback tcp address; curve_secret_key: a Z85 secret key file (enables CURVE
    encryption; only with allow_remote); wait_subscriber_s: hold the sources until a first
    subscriber is connected (up to this many seconds; 0 = don't wait); teacher_3d: add to each
    person the 2D detector's own 3D pose, `kp3d_teacher` (BlazePose's world landmarks, 17x3
    metres, root-relative, camera orientation; docs/schema.md), where the backend has one."""

    endpoint: str = "tcp://127.0.0.1:5555"
    hwm: int = 100
    allow_remote: bool = False
    curve_secret_key: str = ""
    wait_subscriber_s: float = 0.0
    teacher_3d: bool = False

    def __post_init__(self) -> None:
        check_endpoint(self.endpoint, self.allow_remote)
        check_ranges("publish", self, hwm=(1, 1_000_000), wait_subscriber_s=(0, 86400))
        if self.curve_secret_key and not self.allow_remote:
            raise InputError("publish.curve_secret_key is only used with allow_remote (a non-loopback bind)")


def check_endpoint(endpoint: str, allow_remote: bool) -> None:
    """tcp://HOST:PORT (loopback unless allow_remote) or ipc://PATH; InputError otherwise."""
    m = re.fullmatch(r"tcp://(\[[0-9a-fA-F:]+\]|[^:/\s]+):(\d{1,5})", endpoint)
    if m:
        host, port = m.group(1), int(m.group(2))
        if not 0 < port < 65536:
            raise InputError(f"{endpoint}: port must be 1..65535")
        if host not in LOOPBACK and not allow_remote:
            raise InputError(
                f"{endpoint}: binding to a non-loopback address exposes the stream to the "
                "network; pass --allow-remote (and ideally --curve-secret-key) to do it"
            )
        return
    if re.fullmatch(r"ipc://\S+", endpoint):
        return
    raise InputError(f"{endpoint!r}: expected tcp://HOST:PORT or ipc://PATH")



log = logging.getLogger(__name__)


def ipc_in_use(endpoint: str) -> bool:
    """Whether something accepts connections on an ipc://PATH endpoint. ZeroMQ binds an ipc path by
    unlinking whatever socket file is there, so a second bind would silently take the path from a
    running publisher; a plain connect tells: refused or absent = free (a stale file included)."""
    path = endpoint.removeprefix("ipc://")
    if not endpoint.startswith("ipc://") or path.startswith("@") or path == "*":
        return False  # tcp, the abstract namespace (the kernel refuses a second bind) or a wildcard
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(1.0)
        try:
            s.connect(path)
        except (TimeoutError, BlockingIOError):
            return True  # a listener whose queue is full
        except OSError:
            return False  # no such file, no listener (refused), not a socket, path too long: bind says
        return True


def read_curve_key(path: str) -> bytes:
    """A Z85 key (40 characters) from a file (first line; `#` comment lines are skipped)."""
    try:
        lines = [ln.strip() for ln in Path(path).read_text().splitlines()]
    except OSError as err:
        raise InputError(f"{path}: cannot read the CURVE key ({err.strerror})") from None
    keys = [ln for ln in lines if ln and not ln.startswith("#")]
    if not keys or len(keys[0]) != 40:
        raise InputError(f"{path}: expected a 40-character Z85 CURVE key (zmq.curve_keypair())")
    return keys[0].encode()


class Publisher:
    """Bound XPUB socket. `send(stream, payload)`; `poll_subscriptions()` -> new subscriptions seen."""

    def __init__(self, cfg: PublishConfig, ctx: zmq.Context | None = None) -> None:
        import zmq  # here, not at the top: the config above is read where no socket is made

        check_endpoint(cfg.endpoint, cfg.allow_remote)
        if ipc_in_use(cfg.endpoint):
            raise InputError(f"cannot publish on {cfg.endpoint}: {IN_USE}")
        self.cfg = cfg
        self.ctx = ctx or zmq.Context.instance()
        self.sock = self.ctx.socket(zmq.XPUB)
        self.sock.setsockopt(zmq.SNDHWM, cfg.hwm)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.XPUB_VERBOSE, 1)  # every subscribe, not only the first per topic
        # a peer sending a bigger frame is dropped before ZeroMQ allocates it
        self.sock.setsockopt(zmq.MAXMSGSIZE, MAX_SUBSCRIPTION_BYTES)
        self.sock.copy_threshold = 0  # send(handoff_s=...) tracks: pyzmq copies (untracked) below this
        if cfg.curve_secret_key:
            secret = read_curve_key(cfg.curve_secret_key)
            self.sock.curve_secretkey = secret
            self.sock.curve_publickey = zmq.curve_public(secret)
            self.sock.curve_server = True
        try:
            self.sock.bind(cfg.endpoint)
        except zmq.ZMQError as err:
            self.sock.close(0)
            why = IN_USE if err.errno == zmq.EADDRINUSE else err.strerror
            raise InputError(f"cannot publish on {cfg.endpoint}: {why}") from None
        self.subscriptions = 0
        self.garbage = 0
        self.sent = 0
        log.info(
            "publishing on %s (topics pose.<stream>, hwm %d%s)",
            cfg.endpoint,
            cfg.hwm,
            ", CURVE" if cfg.curve_secret_key else "",
        )

    def send(self, stream: str, payload: bytes, handoff_s: float = 0.0) -> None:
        import zmq

        """Queue one message for every subscriber (never blocks on them).

        handoff_s > 0: also wait, at most that long, until ZeroMQ's I/O thread has taken the message
        off the queue (written it towards each subscriber, or dropped it for one that is `hwm`
        behind). An offline run marks a frame published only then, so a publish stage killed right
        after `send` does not take a queued, unsent frame with it (microseconds remain, not the
        I/O thread's wake-up time under load)."""
        if handoff_s <= 0:
            self.sock.send_multipart([topic(stream), payload], copy=len(payload) < 65536)
        else:
            tracker = self.sock.send_multipart([topic(stream), payload], copy=False, track=True)
            try:
                tracker.wait(handoff_s)
            except zmq.NotDone:
                pass  # a subscriber whose connection is stalled: the frame stays queued for it
        self.sent += 1

    def poll_subscriptions(self) -> int:
        import zmq

        """Read what peers sent (non-blocking); returns the number of new subscriptions."""
        new = 0
        while True:
            try:
                frame = self.sock.recv(zmq.NOBLOCK)
            except zmq.Again:
                return new
            if frame[:1] == b"\x01":
                new += 1
                self.subscriptions += 1
            elif frame[:1] != b"\x00":
                self.garbage += 1  # not a (un)subscription: ignored, counted

    def close(self) -> None:
        self.sock.close(0)
