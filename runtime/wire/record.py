"""Record a pose stream to a file and replay it with its original timing.

File format (`.cprec`): the 8 bytes b"CPREC\\x001\\n", then one msgpack array per message,
[t, topic, payload]: t = seconds since the first message (float, finite, never decreasing), topic
and payload the two ZeroMQ frames as received (bytes). Payloads are stored verbatim (not
re-encoded), so a replay is byte-identical to the live stream; a truncated file replays up to its
last complete message. A replay shortens any pause longer than MAX_GAP_S to MAX_GAP_S.
"""

from __future__ import annotations

import contextlib
import logging
import math
import numbers
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import msgpack
import zmq

from camerapose.core.config import range_message
from camerapose.core.errors import InputError, write_failed
from camerapose.runtime.wire.client import check_timeout, connect, receive
from camerapose.runtime.wire.publisher import PublishConfig, Publisher

log = logging.getLogger(__name__)
MAGIC = b"CPREC\x001\n"
MAX_GAP_S = 60.0  # the longest pause a replay keeps (a stream silent for longer resumes after this)
SPEED_RANGE = (0.01, 1000.0)  # replay speed: 100 times slower to 1000 times faster


def record(
    path: str | Path,
    endpoint: str,
    streams: list[str] | None = None,
    limit: int = 0,
    timeout: float | None = None,
    server_key: str | bytes | None = None,
    fmt: str | None = None,
) -> int:
    """Write messages from `endpoint` to `path` (as `fmt`: "cprec" or "mcap"; default by the name:
    MCAP for a name ending in .mcap) until `limit` messages (0 = no limit), `timeout` s
    of silence, or Ctrl-C (KeyboardInterrupt). Returns the number of messages written.

    A bad endpoint or key fails before the file is created; every message goes to the file as it
    arrives, so a recorder that is killed loses none it had received. A write that fails (a full
    disk) cuts the file back to its last whole message, which replays, and raises one InputError
    line naming the path and the errno (ENOSPC)."""
    timeout = check_timeout(timeout, "record")
    if fmt not in (None, "cprec", "mcap"):
        raise InputError(f"record: format must be cprec or mcap, got {fmt!r}")
    mcap = fmt == "mcap" or (fmt is None and str(path).lower().endswith(".mcap"))
    sock = connect(endpoint, streams, server_key)
    try:
        if mcap:
            from camerapose.runtime.wire.mcap_io import McapRecorder

            out: _CprecFile | McapRecorder = McapRecorder(path)
        else:
            out = _CprecFile(path)
    except InputError:
        sock.close(0)
        raise
    n, t0 = 0, None
    try:
        for topic, payload in receive(sock, streams, timeout=timeout, raw=True):
            now = time.monotonic()
            t0 = now if t0 is None else t0
            out.write(now - t0, topic, payload)
            n += 1
            if limit and n >= limit:
                break
    except KeyboardInterrupt:
        pass
    finally:
        out.close()
    log.info("recorded %d messages to %s%s", n, path, " (MCAP)" if mcap else "")
    return n


class _CprecFile:
    """A `.cprec` being written: `write(t, topic, payload)` per message, then `close()`. Each record
    goes to the OS unbuffered and whole: a full disk cuts the file back to its last whole record
    (which replays) and raises one InputError line."""

    def __init__(self, path: str | Path) -> None:
        self.path, self.n, self.size = path, 0, 0  # size: the file's length, its whole records
        try:
            self.f = open(path, "wb", buffering=0)  # each message to the OS at once: none half buffered
        except OSError as err:
            raise InputError(f"{path}: cannot write the recording ({err.strerror})") from None
        try:
            self._whole(MAGIC)
        except InputError:
            self.f.close()
            raise

    def write(self, t: float, topic: bytes, payload: bytes) -> None:
        self._whole(msgpack.packb([t, topic, payload], use_bin_type=True))
        self.n += 1

    def _whole(self, data: bytes) -> None:
        try:
            self.size = _write_whole(self.f, self.path, data, self.size)
        except InputError as err:  # a full disk
            raise InputError(f"{err}; the recording keeps the {self.n} messages before it") from None

    def close(self) -> None:
        self.f.close()


def _write_whole(f: BinaryIO, path: str | Path, data: bytes, size: int) -> int:
    """All of `data` to the unbuffered file `f`, `size` bytes long -> its new length; if that fails
    (a full disk), cut a regular file back to `size` and raise the one InputError line."""
    view, done = memoryview(data), 0
    try:
        while done < len(data):
            wrote = f.write(view[done:])
            if not wrote:
                raise OSError(0, "the write wrote nothing")
            done += wrote
    except OSError as err:
        with contextlib.suppress(OSError):
            if stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                os.ftruncate(f.fileno(), size)
        raise write_failed(path, err) from None
    return size + len(data)


def read_recording(path: str | Path) -> Iterator[tuple[float, bytes, bytes]]:
    """(t, topic, payload) for every complete message of a recording (`.cprec`, or MCAP written by
    `record x.mcap`); InputError for a record that is malformed or whose time is not finite,
    negative or earlier than the previous one's."""
    from camerapose.runtime.wire.mcap_io import is_mcap, read_mcap

    if is_mcap(path):
        yield from read_mcap(path)
        return
    try:
        f = open(path, "rb")
    except OSError as err:
        raise InputError(f"{path}: cannot open ({err.strerror})") from None
    with f:
        if f.read(len(MAGIC)) != MAGIC:
            raise InputError(f"{path}: not a CameraPose recording")
        unpacker = msgpack.Unpacker(f, raw=False, max_bin_len=8 << 20)
        prev = 0.0
        try:
            for i, item in enumerate(unpacker):
                if not (
                    isinstance(item, list)
                    and len(item) == 3
                    and isinstance(item[0], float | int)
                    and not isinstance(item[0], bool)
                    and isinstance(item[1], bytes)
                    and isinstance(item[2], bytes)
                ):
                    raise InputError(f"{path}: corrupt record {i}")
                t = float(item[0])
                if not (math.isfinite(t) and t >= prev):
                    raise InputError(f"{path}: corrupt record {i}: time {t} s after {prev} s")
                prev = t
                yield t, item[1], item[2]
        except (msgpack.UnpackException, ValueError) as err:
            raise InputError(f"{path}: corrupt recording ({type(err).__name__})") from None


def replay(
    path: str | Path,
    cfg: PublishConfig,
    speed: float = 1.0,
    loop: bool = False,
    ctx: zmq.Context | None = None,
) -> int:
    """Re-publish a recording on cfg.endpoint with its original timing (scaled by 1/speed; pauses
    longer than MAX_GAP_S shortened to it). The whole file is checked before anything is sent."""
    lo, hi = SPEED_RANGE
    if isinstance(speed, bool) or not isinstance(speed, numbers.Real) or not lo <= speed <= hi:
        raise InputError(f"replay speed {range_message(lo, hi, speed)}")
    for _ in read_recording(path):  # fail early on a bad file, before binding
        pass
    pub = Publisher(cfg, ctx)
    n = 0
    try:
        if cfg.wait_subscriber_s > 0:
            until = time.monotonic() + cfg.wait_subscriber_s
            while not pub.poll_subscriptions() and time.monotonic() < until:
                time.sleep(0.01)
        while True:
            start, clock, prev = time.monotonic(), 0.0, 0.0
            for t, topic, payload in read_recording(path):
                gap = t - prev
                if gap > MAX_GAP_S:
                    log.warning("%s: a pause of %.0f s shortened to %g s", path, gap, MAX_GAP_S)
                clock, prev = clock + min(gap, MAX_GAP_S), t
                delay = start + clock / speed - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                pub.sock.send_multipart([topic, payload])
                n += 1
            if not loop:
                break
        time.sleep(0.2)  # let the last messages leave before the socket closes
    finally:
        pub.close()
    log.info("replayed %d messages from %s", n, path)
    return n
