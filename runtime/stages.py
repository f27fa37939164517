"""The stage processes: one loop per role, started by the supervisor as
`python -m camerapose.runtime.stages NAME RUN_DIR` (the config is RUN_DIR/config.json).

Each loop: read its input channel (newest-wins in live mode), do its one job, write its output
channel, and every `heartbeat_s` send the supervisor a heartbeat with cumulative counters and the
latency samples (ms) since the last one. A user-caused error (bad source, port in use, missing
model) is sent as one "fatal" line and the process exits 3 (not restarted); any other exception
exits non-zero and the supervisor restarts the stage. SIGTERM ends the loop within ~0.1 s.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from collections import defaultdict, deque
from pathlib import Path
from typing import Any

import msgpack
import numpy as np
import zmq

from camerapose.core.errors import CameraPoseError
from camerapose.runtime import graph
from camerapose.runtime.frame_ring import FrameRing
from camerapose.runtime.wire import schema

from .config import RuntimeConfig, from_json

log = logging.getLogger("camerapose.runtime.stage")
FATAL_EXIT = 3
POLL_MS = 50


def _ms(a: float, b: float) -> float:
    return round((b - a) * 1e3, 3)


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
        ep = graph.endpoint(self.run_dir, chan.name)
        s.bind(ep) if bind else s.connect(ep)
        return s

    # -- control -------------------------------------------------------------------------------
    def tell(self, msg_type: str, **fields: Any) -> None:
        msg = {"type": msg_type, "stage": self.spec.name, "pid": os.getpid(), **fields}
        self.control.send(msgpack.packb(msg, use_bin_type=True))

    def heartbeat(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last_hb >= self.cfg.supervisor.heartbeat_s:
            self.tell("hb", counters=dict(self.counters), samples=dict(self.samples))
            self.samples.clear()
            self._last_hb = now

    def send(self, chan: str, obj: dict[str, Any], drop_ok: bool) -> bool:
        """Send on an output channel: in live mode (drop_ok) never wait; else wait, but wake for stop."""
        data = msgpack.packb(obj, use_bin_type=True)
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

    def recv_all(self, chan: str, timeout_ms: int = POLL_MS, limit: int = 256) -> list[dict[str, Any]]:
        """Everything waiting on an input channel (waiting up to timeout_ms for the first)."""
        sock = self.ins[chan]
        out: list[dict[str, Any]] = []
        if not sock.poll(timeout_ms):
            return out
        while len(out) < limit:
            try:
                out.append(msgpack.unpackb(sock.recv(zmq.NOBLOCK), raw=False))
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
        """A restarted last reader: frames queued to its previous life are lost, so free their slots
        (else an offline-mode capture would wait for them forever)."""
        for s in streams:
            r = self.ring(s)
            if r is not None and r.newest() > r.released:
                log.warning(
                    "stream %s: frames up to %d were lost with the previous %s", s, r.newest(), "stage"
                )
                r.release(r.newest())

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


# ------------------------------------------------------------------------------------------------
class CaptureStage(Stage):
    """One source -> its shared-memory ring + a small message per frame on `frames`."""

    def _waiting(self) -> bool:
        """While blocked on a full ring (offline mode): keep the heartbeat going; stop if told."""
        self.heartbeat()
        return self.stop

    def run(self) -> None:
        from .sources import LiveReader, SourceSpec, open_source

        spec: SourceSpec = next(s for s in self.cfg.sources if s.name == self.spec.stream)
        source = open_source(spec, self.cfg.capture)  # InputError -> fatal
        name = graph.ring_name(self.run_id, spec.name)
        first = _resume_index(name)
        source.resume_at(first)
        name = graph.ring_name(self.run_id, spec.name)
        ring: FrameRing | None = None
        paced = spec.kind in ("file", "folder")
        live = None if self.offline else LiveReader(source, paced)
        self.tell("ready")
        try:
            while not self.stop:
                self.heartbeat()
                if live is None:
                    frame = source.read()
                else:
                    got = live.get(POLL_MS / 1000)
                    if isinstance(got, str):
                        continue
                    frame = got
                self.counters["corrupt"] = source.corrupt
                if live is not None:
                    self.counters["dropped"] = live.dropped
                if frame is None:
                    self.send("frames", {"eof": True, "stream": spec.name}, drop_ok=False)
                    self.tell("source_end", stream=spec.name)
                    break
                img = frame.image
                if ring is None or not ring.fits(img):
                    ring = _new_ring(ring, name, self.cfg.capture.ring_slots, img.nbytes, frame.index)
                if self.offline and not ring.wait_free(frame.index, self._waiting):
                    break
                t0 = time.monotonic()
                ring.write(frame.index, img, frame.t_capture)
                msg = {
                    "stream": spec.name,
                    "frame": frame.index,
                    "gen": ring.generation,
                    "t_capture": frame.t_capture,
                    "t_wall": frame.t_wall,
                    "size": [img.shape[1], img.shape[0]],
                    "t_sent": time.monotonic(),
                    "read_ms": frame.read_ms + _ms(t0, time.monotonic()),
                }
                if self.send("frames", msg, drop_ok=not self.offline):
                    self.counters["frames"] += 1
                else:
                    self.counters["queue_full"] += 1
            # Keep the ring until told to stop: readers may still be reading its last frames.
            while not self.stop:
                self.heartbeat()
                time.sleep(POLL_MS / 1000)
        finally:
            if live is not None:
                live.close()
            source.close()
            if ring is not None:
                ring.close()
                if os.getppid() != int(os.environ.get("CAMERAPOSE_SUPERVISOR", os.getppid())):
                    ring.unlink()  # the supervisor is gone: nobody else will


def _resume_index(name: str) -> int:
    """A restarted capture goes on after the newest frame its previous life put in the ring."""
    try:
        old = FrameRing.attach(name)
    except (FileNotFoundError, ValueError):
        return 0  # first life
    try:
        nxt = old.newest() + 1
    finally:
        old.close()
    nxt = max(0, nxt)
    log.info("resuming at frame %d", nxt)
    return nxt


def _new_ring(old: FrameRing | None, name: str, slots: int, nbytes: int, first: int) -> FrameRing:
    if old is not None:
        old.close()
    return FrameRing.create(name, slots, nbytes, first)


# ------------------------------------------------------------------------------------------------
class DetectStage(Stage):
    """Newest frame per stream (live) or every frame in order (offline) -> 2D persons, batched."""

    def run(self) -> None:
        from camerapose.runtime.detect.registry import create_detector

        detector = create_detector(self.cfg.detector)
        rings = RingReader(self.run_id)
        releases = graph.last_frame_reader(self.cfg) == "detect"
        if releases:
            rings.release_all([src.name for src in self.cfg.sources])
        pending: deque[dict[str, Any]] = deque()
        self.tell("ready")
        try:
            while not self.stop:
                self.heartbeat()
                pending.extend(self.recv_all("frames", 0 if pending else POLL_MS))
                if not pending:
                    continue
                batch = self._take(pending)
                self._process(detector, rings, batch, releases)
        finally:
            detector.close()
            rings.close()

    def _take(self, pending: deque[dict[str, Any]]) -> list[dict[str, Any]]:
        """One tick's work: at most one frame per stream (live: the newest; older ones dropped)."""
        if not self.offline:
            newest: dict[str, dict[str, Any]] = {}
            out = []
            for m in pending:
                if m.get("eof"):
                    out.append(m)
                    continue
                if m["stream"] in newest:
                    self.counters["dropped"] += 1  # a newer frame of that stream is waiting
                newest[m["stream"]] = m
            pending.clear()
            return list(newest.values()) + out
        seen: set[str] = set()
        batch, rest = [], deque()
        for m in pending:
            (rest.append if m["stream"] in seen else batch.append)(m)
            seen.add(m["stream"])
        pending.clear()
        pending.extend(rest)
        return batch

    def _person(self, p: Any) -> dict[str, Any]:
        """A Person2D -> its map on the `persons` channel (the detector's 3D only when published)."""
        out = {
            "id": p.id,
            "score": p.score,
            "box": schema.encode_array(p.box),
            "kp2d": schema.encode_array(p.keypoints),
            "conf": schema.encode_array(p.confidence),
        }
        if self.cfg.publish.teacher_3d and p.world is not None:
            out["world"] = schema.encode_array(p.world)
        return out

    def _process(self, detector: Any, rings: RingReader, batch: list[dict[str, Any]], releases: bool) -> None:
        frames, metas = [], []
        for m in batch:
            if m.get("eof"):
                continue
            ring = rings.ring(m["stream"], m["gen"])
            img = ring.read(m["frame"]) if ring is not None else None
            if img is None:
                self.counters["dropped"] += 1  # overwritten in the ring before we got to it
                continue
            frames.append(img)
            metas.append(m)
            if releases:
                ring.release(m["frame"])
        t0 = time.monotonic()
        results: list[list[Any]] = []
        if frames:
            try:
                results = detector.detect(
                    frames, [m["t_capture"] for m in metas], [m["stream"] for m in metas]
                )
            except CameraPoseError as err:  # a frame the detector refuses: skip it, count it
                log.warning("detect: frames skipped (%s)", err)
                self.counters["corrupt"] += len(frames)
                results, metas = [], []
        t1 = time.monotonic()
        for m, persons in zip(metas, results, strict=True):
            out = {k: m[k] for k in ("stream", "frame", "t_capture", "t_wall", "size")}
            out["timings"] = {
                "capture": m["read_ms"],
                "wait_detect": _ms(m["t_sent"], t0),
                "detect": _ms(t0, t1),
            }
            out["dropped"] = int(self.counters["dropped"])
            out["persons"] = [self._person(p) for p in persons]
            out["t_sent"] = time.monotonic()
            self.counters["frames"] += 1
            self.counters["persons"] += len(persons)
            self.samples.setdefault("detect", []).append(_ms(t0, t1) / max(1, len(metas)))
            self.send("persons", out, drop_ok=False)
        for m in batch:
            if m.get("eof"):
                self.send("persons", m, drop_ok=False)


# ------------------------------------------------------------------------------------------------
class LiftStage(Stage):
    """All persons of all frames waiting this tick -> ONE batched pose-model call -> wire messages."""

    def run(self) -> None:
        from .lift import Lifter, LiftItem

        lifter = Lifter(self.cfg.lift)
        self.tell("ready", backend=lifter.runner.backend)
        try:
            while not self.stop:
                self.heartbeat()
                msgs = self.recv_all("persons")
                if not msgs:
                    continue
                t0 = time.monotonic()
                items, owners = [], []
                for mi, m in enumerate(msgs):
                    for p in m.get("persons", ()):
                        items.append(
                            LiftItem(
                                m["stream"],
                                m["frame"],
                                m["t_capture"],
                                tuple(m["size"]),
                                p["id"],
                                schema.decode_array(p["kp2d"], "kp2d", (17, 2)),
                                schema.decode_array(p["conf"], "conf", (17,)),
                            )
                        )
                        owners.append((mi, p))
                poses = lifter.lift(items)
                t1 = time.monotonic()
                by_msg: dict[int, list[dict[str, Any]]] = defaultdict(list)
                for (mi, p), item, pose in zip(owners, items, poses, strict=True):
                    by_msg[mi].append(
                        schema.person(
                            p["id"],
                            p["score"],
                            schema.decode_array(p["box"], "box", (4,)),
                            item.kp2d,
                            item.conf,
                            pose.kp3d,
                            pose.fx,
                            pose.fy,
                            pose.cx,
                            pose.cy,
                            pose.t,
                            pose.source,
                            teacher=_teacher(p),
                        )
                    )
                if items:
                    self.samples.setdefault("infer", []).append(round(lifter.last_infer_ms, 3))
                    self.samples.setdefault("batch", []).append(len(items))
                for mi, m in enumerate(msgs):
                    if m.get("eof"):
                        self.send("poses", m, drop_ok=False)
                        continue
                    timings = dict(m["timings"], wait_lift=_ms(m["t_sent"], t0), lift=_ms(t0, t1))
                    out = {
                        "schema": schema.SCHEMA_VERSION,
                        "stream": m["stream"],
                        "frame": m["frame"],
                        "t_capture": m["t_capture"],
                        "t_wall": m["t_wall"],
                        "t_publish": 0.0,
                        "image_size": list(m["size"]),
                        "timings": timings,
                        "dropped": m["dropped"],
                        "persons": by_msg.get(mi, []),
                        "t_sent": time.monotonic(),
                    }
                    self.counters["frames"] += 1
                    self.send("poses", out, drop_ok=False)
        finally:
            lifter.close()


def _teacher(p: dict[str, Any]) -> np.ndarray | None:
    """The detector's own 3D of a `persons` map (17, 3), when the detect stage sent it."""
    return schema.decode_array(p["world"], "world", (17, 3)) if "world" in p else None


# ------------------------------------------------------------------------------------------------
class PublishStage(Stage):
    """Wire messages -> the ZeroMQ PUB socket (never waits for subscribers)."""

    def run(self) -> None:
        from camerapose.runtime.wire.publisher import Publisher

        pub = Publisher(self.cfg.publish, self.ctx)  # InputError (port in use...) -> fatal
        forward = "annotate" in self.outs
        final = graph.final_stage(self.cfg) == "publish"
        self.tell("ready")
        try:
            while not self.stop:
                self.heartbeat()
                if pub.poll_subscriptions():
                    self.tell("subscriber", count=pub.subscriptions)
                self.counters["garbage"] = pub.garbage
                for m in self.recv_all("poses"):
                    if m.get("eof"):
                        if forward:
                            self.send("annotate", {"eof": True, "stream": m["stream"]}, drop_ok=False)
                        if final:
                            self.tell("eof", stream=m["stream"])
                        continue
                    t_sent = m.pop("t_sent")
                    now = time.monotonic()
                    m["t_publish"] = now
                    m["timings"]["wait_publish"] = _ms(t_sent, now)
                    m["timings"]["total"] = _ms(m["t_capture"], now)
                    payload = schema.pack(m)
                    pub.send(m["stream"], payload)
                    self.counters["frames"] += 1
                    self.counters["persons"] += len(m["persons"])
                    for k, v in m["timings"].items():
                        self.samples.setdefault(k, []).append(v)
                    if forward:
                        self.send("annotate", {"payload": payload}, drop_ok=not self.offline)
        finally:
            pub.close()


# ------------------------------------------------------------------------------------------------
class AnnotateStage(Stage):
    """Published messages + their frames (from the ring) -> annotated video and/or a window."""

    def run(self) -> None:
        from camerapose.runtime.draw.video import Annotator

        out = self.cfg.output
        annot = Annotator(out.annotate, out.show, out.view3d)
        rings = RingReader(self.run_id)
        releases = graph.last_frame_reader(self.cfg) == "annotate"
        if releases:
            rings.release_all([src.name for src in self.cfg.sources])
        self.tell("ready")
        try:
            while not self.stop:
                self.heartbeat()
                for m in self.recv_all("annotate"):
                    if m.get("eof"):
                        self.tell("eof", stream=m["stream"])
                        continue
                    msg = schema.decode(m["payload"])
                    ring = rings.ring(msg["stream"])
                    img = ring.read(msg["frame"]) if ring is not None else None
                    if img is None:
                        self.counters["dropped"] += 1
                        continue
                    annot.add(msg, img)
                    if releases:
                        ring.release(msg["frame"])
                    self.counters["frames"] += 1
        finally:
            annot.close()
            rings.close()


ROLES = {
    "capture": CaptureStage,
    "detect": DetectStage,
    "lift": LiftStage,
    "publish": PublishStage,
    "annotate": AnnotateStage,
}


def main(argv: list[str]) -> int:
    name, run_dir = argv[0], Path(argv[1])
    logging.basicConfig(
        level=int(os.environ.get("CAMERAPOSE_LOG_LEVEL", logging.INFO)),
        format=f"%(asctime)s %(levelname).1s {name}: %(message)s",
        datefmt="%H:%M:%S",
    )
    cfg = from_json((run_dir / "config.json").read_text())
    spec = next(s for s in graph.stages(cfg) if s.name == name)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the supervisor decides; it sends SIGTERM
    stage = ROLES[spec.role](spec, cfg, run_dir)

    def on_term(signum: int, frame: Any) -> None:
        stage.stop = True

    signal.signal(signal.SIGTERM, on_term)
    code = 0
    try:
        stage.run()
    except CameraPoseError as err:
        stage.tell("fatal", error=str(err), kind=type(err).__name__)
        code = FATAL_EXIT
    finally:
        stage.heartbeat(force=True)
        stage.close()
    return code


def _np_quiet() -> None:
    np.seterr(all="ignore")


if __name__ == "__main__":
    _np_quiet()
    sys.exit(main(sys.argv[1:]))
