"""What every stage process shares: its sockets, heartbeats and stop flag (`Stage`), the frame
rings it reads (`RingReader`), and, for offline mode, `Snapshots` and `OfflineState`, a stage's
state saved after each frame. The per-tick functions the stages loop around are in
`runtime/ticks.py`."""

from __future__ import annotations

import logging
import os
import time
from collections import defaultdict, deque
from dataclasses import replace
from pathlib import Path
from typing import Any

import zmq

from camerapose.runtime import graph
from camerapose.runtime.config import RuntimeConfig
from camerapose.runtime.frame_ring import FrameRing
from camerapose.runtime.protocol import (
    MAX_MESSAGE_BYTES,
    Control,
    ControlKind,
    EndOfInput,
    from_channel,
    pack,
    unpack,
)
from camerapose.runtime.ticks import Tick

log = logging.getLogger("camerapose.runtime.stage")
FATAL_EXIT = 3
POLL_MS = 50


class Stage:
    """What every stage shares: config, channels, heartbeats, the stop flag."""

    def __init__(self, spec: graph.StageSpec, cfg: RuntimeConfig, run_dir: Path) -> None:
        self.spec, self.cfg, self.run_dir = spec, cfg, run_dir
        self.run_id = run_dir.name
        self.offline = cfg.capture.mode == "offline"
        self.ctx = zmq.Context()
        chans = graph.channels(cfg)
        self.control = self._socket(zmq.PUSH, graph.CONTROL, bind=False)
        self.ins = {n: self._socket(zmq.PULL, chans[n], bind=True) for n in spec.inputs}
        self.outs = {n: self._socket(zmq.PUSH, chans[n], bind=False) for n in spec.outputs}
        self.stop = False
        self.counters: dict[str, int] = defaultdict(int)
        self.samples: dict[str, list[float]] = defaultdict(list)
        self._last_hb = 0.0

    def _socket(self, kind: int, chan: graph.Channel, bind: bool) -> zmq.Socket:
        s = self.ctx.socket(kind)
        s.setsockopt(zmq.LINGER, 500 if chan is graph.CONTROL else 0)
        s.setsockopt(zmq.SNDHWM if kind == zmq.PUSH else zmq.RCVHWM, chan.hwm)
        s.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
        ep = graph.endpoint(self.run_dir, chan.name)
        s.bind(ep) if bind else s.connect(ep)
        return s

    # -- control -------------------------------------------------------------------------------
    def tell(self, kind: ControlKind, **fields: Any) -> None:
        """One control message to the supervisor (`fields`: those of `kind`, see protocol.Control)."""
        self.tell_msg(Control(kind, self.spec.name, os.getpid(), **fields))

    def tell_msg(self, msg: Control) -> None:
        self.control.send(pack(msg.to_msg()))

    def heartbeat(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last_hb >= self.cfg.supervisor.heartbeat_s:
            self.tell(ControlKind.HEARTBEAT, counters=dict(self.counters), samples=dict(self.samples))
            self.samples.clear()
            self._last_hb = now

    def record(self, tick: Tick) -> None:
        """Add a tick's counts and samples to the next heartbeat's."""
        for k, n in tick.counts.items():
            self.counters[k] += n
        for k, v in tick.samples.items():
            self.samples[k].extend(v)

    def send(self, chan: str, msg: Any, drop_ok: bool) -> bool:
        """Send a protocol message on an output channel: in live mode (drop_ok) never wait; else wait,
        but wake for stop. False when it was not sent."""
        data = pack(msg.to_msg())
        sock = self.outs[chan]
        while not self.stop:
            try:
                sock.send(data, zmq.NOBLOCK)
                return True
            except zmq.Again:
                if drop_ok:
                    return False
                sock.poll(POLL_MS, zmq.POLLOUT)
                self.heartbeat()
        return False

    def pass_on(self, chan: str, msgs: list[Any]) -> None:
        """Send messages in order, waiting for room (never dropped); each but an EndOfInput stamped
        with its send time (`t_sent`: where the next stage's wait starts)."""
        for m in msgs:
            self.send(chan, m if isinstance(m, EndOfInput) else replace(m, t_sent=time.monotonic()), False)

    def recv_all(self, chan: str, timeout_ms: int = POLL_MS, limit: int = 256) -> list[Any]:
        """Every message waiting on an input channel, parsed (waiting up to timeout_ms for the first);
        ProtocolError on a malformed one."""
        sock = self.ins[chan]
        out: list[Any] = []
        if not sock.poll(timeout_ms):
            return out
        while len(out) < limit:
            try:
                out.append(from_channel(chan, unpack(sock.recv(zmq.NOBLOCK))))
            except zmq.Again:
                break
        return out

    def run(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        for s in [*self.ins.values(), *self.outs.values()]:
            s.close(0)
        self.control.close(500)
        self.ctx.term()


class RingReader:
    """Attach each stream's ring lazily; re-attach when the capture re-created it (restart)."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.rings: dict[str, tuple[FrameRing, int]] = {}

    def release_all(self, streams: list[str]) -> None:
        """A restarted annotate stage: the frames published to its previous life are lost to it, so
        free their slots (else an offline-mode capture would wait for them forever). Frames not yet
        published keep theirs: a restarted pipeline may still need them."""
        for s in streams:
            r = self.ring(s)
            if r is not None and r.published > r.released:
                log.warning("stream %s: frames up to %d were lost with the previous %s", s, r.published,
                            "stage")
                r.release(r.published)

    def ring(self, stream: str, generation: int | None = None) -> FrameRing | None:
        cur = self.rings.get(stream)
        if cur is not None and (generation is None or cur[0].generation == generation):
            if generation is not None or _inode(cur[0].path) == cur[1]:
                return cur[0]
        if cur is not None:
            cur[0].close()
            del self.rings[stream]
        try:
            r = FrameRing.attach(graph.ring_name(self.run_id, stream))
        except (FileNotFoundError, ValueError):
            return None
        self.rings[stream] = (r, _inode(r.path))
        return r

    def close(self) -> None:
        for r, _ in self.rings.values():
            r.close()


def _inode(p: Path) -> int:
    try:
        return p.stat().st_ino
    except FileNotFoundError:
        return -1


class Snapshots:
    """Offline mode: a stage's state per stream after each frame it passed on, one file per frame
    in the run's folder (`state/STAGE.STREAM.FRAME.state`). A restarted pipeline goes on from each
    stream's last published frame, so every stage loads its state at that frame (`resume`); the
    files of frames before it are no longer needed (`forget_before`). Never pickles: the files go
    through `snapshot_codec`, which rebuilds only the state classes it lists."""

    def __init__(self, run_dir: Path, stage: str) -> None:
        self.dir = run_dir / "state"
        self.dir.mkdir(exist_ok=True)
        self.stage = stage
        self.kept: dict[str, deque[int]] = defaultdict(deque)  # frames saved, oldest first

    def path(self, stream: str, frame: int) -> Path:
        return self.dir / f"{self.stage}.{stream}.{frame}.state"

    def save(self, stream: str, frame: int, state: Any) -> None:
        """Keep `state`, the stage's state of `stream` once `frame` is done."""
        from camerapose.runtime.stages import snapshot_codec  # the detect and lift stages' classes

        tmp = self.dir / f".{self.stage}.{stream}.tmp"
        tmp.write_bytes(snapshot_codec.dumps(state))
        os.replace(tmp, self.path(stream, frame))
        self.kept[stream].append(frame)

    def resume(self, stream: str, frame: int) -> Any | None:
        """The state saved once `frame` of `stream` was done (None: none saved), every other file
        of the stream removed (the previous lives' frames after it are done again)."""
        from camerapose.runtime.stages import snapshot_codec

        state = None
        for p in self.dir.glob(f"{self.stage}.{stream}.*.state"):
            if p == self.path(stream, frame):
                try:
                    state = snapshot_codec.loads(p.read_bytes())
                except snapshot_codec.SnapshotError as err:
                    log.warning("%s: %s: %s; the stream starts afresh", self.stage, p.name, err)
            else:
                p.unlink(missing_ok=True)
        self.kept[stream] = deque([frame] if state is not None else [])
        return state

    def forget_before(self, stream: str, frame: int) -> None:
        """Remove the files of frames before `frame` (the stream's last published one)."""
        kept = self.kept[stream]
        while kept and kept[0] < frame:
            self.path(stream, kept.popleft()).unlink(missing_ok=True)


class OfflineState:
    """Offline mode: what a stage (`owner`: its `stream_state` and `restore_stream`) keeps of each
    stream, in `Snapshots`. At a stream's first frame in this life (`begin`) the state saved at its
    last published frame (the ring's mark) is restored and the frames after it are done again;
    after each frame (`done`) the state is saved and the files of frames before the mark go."""

    def __init__(self, run_dir: Path, stage: str, rings: RingReader, owner: Any) -> None:
        self.snaps, self.rings, self.owner = Snapshots(run_dir, stage), rings, owner
        self.resumed: set[str] = set()  # streams whose saved state this life has loaded

    def _published(self, stream: str) -> int:
        ring = self.rings.ring(stream)  # None: the capture has not made it (yet) or it is gone
        return ring.published if ring is not None else -1

    def begin(self, stream: str) -> None:
        if stream in self.resumed:
            return
        self.resumed.add(stream)
        last = self._published(stream)
        state = self.snaps.resume(stream, last)
        if state is not None:
            self.owner.restore_stream(stream, state)
            log.info("%s: stream %s goes on after frame %d", self.snaps.stage, stream, last)
        elif last >= 0:
            log.warning("%s: no state of stream %s saved at frame %d: it starts afresh", self.snaps.stage,
                        stream, last)

    def done(self, stream: str, frame: int) -> None:
        self.snaps.save(stream, frame, self.owner.stream_state(stream))
        self.snaps.forget_before(stream, self._published(stream))
