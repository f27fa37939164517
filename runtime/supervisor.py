"""The supervisor: starts the stages of `graph.stages`, watches them, restarts them, shuts down cleanly.

    code = Supervisor(cfg).run()   # blocks; 0 when every file source ended or on SIGTERM; 130 on SIGINT;
                                   # 4 (LOST_EXIT) when an offline run lost frames

- Stages are child processes (`python -m camerapose.runtime.stages`), started downstream first;
  the captures start only when every other stage said "ready" (models loaded, socket bound) and,
  with `publish.wait_subscriber_s`, a first subscriber is connected.
- Each stage sends a heartbeat every `heartbeat_s`; a stage that exited or stayed silent longer
  than `heartbeat_timeout_s` is killed and restarted, at most `max_restarts` times, after which
  the run stops with an error naming the stage. A stage that reports a user error ("fatal": bad
  source, port in use, missing model) stops the run at once with that one line.
- Offline mode (every frame): a restart of capture, detect, lift or publish restarts those four
  together, from each stream's last published frame (`_restart_pipeline`): every frame is then
  published exactly once and in order. Frames that cannot be had again are reported by the
  publish stage (LOST); the run then names them and exits with LOST_EXIT (4).
- Before anything starts, the rings' folder (`CAMERAPOSE_SHM_DIR`, else /dev/shm) must be a writable
  folder; each capture reserves its ring's pages when it makes it, so a folder too small for the
  rings stops the run with one line naming it and the space needed (never a SIGBUS restart loop).
- SIGINT / SIGTERM: every stage gets SIGTERM, then SIGKILL after `stop_timeout_s`; the run folder
  (ipc sockets) and every shared-memory ring are removed. Children also get SIGTERM if the
  supervisor itself dies (PR_SET_PDEATHSIG), so nothing outlives it; the folder and rings of a
  supervisor killed with SIGKILL are removed by the next run (`graph.stale_run_dirs`).
- Every `stats_every_s` one log line: fps, drops, persons, latency p50/p95 per stage.

What it knows of the run (liveness, counters, ended streams, samples, the error) is a `RunState`,
updated by `RunState.on_control` one control message at a time and read by `health` and the stats
lines: plain data and functions, testable without processes or sockets.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import numpy as np
import zmq

from camerapose.children import dies_with_parent
from camerapose.core.errors import CameraPoseError
from camerapose.runtime import graph
from camerapose.runtime.frame_ring import FrameRing, check_shm_dir, leftover_segments
from camerapose.runtime.protocol import (
    BATCH,
    INFER,
    LATENCY_ORDER,
    MAX_MESSAGE_BYTES,
    Control,
    ControlKind,
    Count,
    ProtocolError,
    Timing,
    unpack,
)

from .config import RuntimeConfig, SupervisorConfig, to_json
from .stages.base import FATAL_EXIT

log = logging.getLogger("camerapose.runtime")
LOST_EXIT = 4  # an offline run lost frames it could not publish
PIPELINE = ("capture", "detect", "lift", "fuse", "publish")  # the roles an offline restart restarts together


class StageFailed(CameraPoseError):
    """A stage kept dying (more than max_restarts) or could not start."""


@dataclass
class Child:
    """One stage and its current process (life)."""

    spec: graph.StageSpec
    proc: subprocess.Popen | None = None
    restarts: int = 0
    ready: bool = False
    last_seen: float = 0.0  # monotonic s of its last control message (or its start)
    counters: dict[str, int] = field(default_factory=dict)  # this life's, from its last heartbeat
    base: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # counters of earlier lives

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def new_life(self) -> None:
        """Before a restart: keep this life's counters in `base`, start the next life's at zero."""
        for k, v in self.counters.items():
            self.base[k] += v
        self.counters = {}

    def totals(self) -> dict[str, int]:
        """Counters over all its lives (a counter the current life has not reported yet included)."""
        return {k: self.base.get(k, 0) + self.counters.get(k, 0) for k in {*self.base, *self.counters}}


@dataclass
class Stats:
    """What the periodic log line and the summary report."""

    published: int = 0
    samples: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))


class Health(Enum):
    """What `health` makes of a stage."""

    OK = "ok"  # running and heard from in time
    FINISHED = "finished"  # a capture that exited cleanly after its stream ended: leave it
    HUNG = "hung"  # running but silent too long: kill it, then as DEAD
    DEAD = "dead"  # exited: restart it (or stop the run, after a fatal error)


def health(child: Child, code: int | None, now: float, sup: SupervisorConfig, ended: set[str]) -> Health:
    """A stage's state from its exit code (None: running) and how long it has been silent: a stage
    that is not ready yet gets `start_timeout_s` (loading models), a ready one `heartbeat_timeout_s`."""
    silent = now - child.last_seen > (sup.heartbeat_timeout_s if child.ready else sup.start_timeout_s)
    if code is None:
        return Health.HUNG if silent else Health.OK
    if code == 0 and child.spec.role == "capture" and child.spec.stream in ended:
        return Health.FINISHED
    return Health.DEAD


@dataclass
class RunState:
    """The supervisor's bookkeeping, without processes or sockets."""

    children: dict[str, Child]
    ended: set[str] = field(default_factory=set)  # streams whose last frame the final stage handled
    subscribed: bool = False
    backend: str = ""  # the lift stage's pose-model backend
    error: CameraPoseError | None = None  # set: the run stops with it
    lost: dict[str, list[tuple[int, int]]] = field(default_factory=dict)  # stream -> (first, last)s
    published: int | None = None  # at the end: frames published, as the rings count them (exact)
    window: Stats = field(default_factory=Stats)  # since the last stats line
    totals: Stats = field(default_factory=Stats)  # the whole run

    def on_control(self, msg: Control, now: float) -> None:
        """Take one control message received at `now` (monotonic s)."""
        child = self.children.get(msg.stage)
        if child is None or msg.pid != child.pid:
            return  # not a stage of this run, or from a previous life of the stage
        child.last_seen = now
        if msg.kind is ControlKind.READY:
            child.ready = True
            self.backend = msg.backend or self.backend
            log.debug("%s ready", child.spec.name)
        elif msg.kind is ControlKind.HEARTBEAT:
            child.counters = dict(msg.counters)
            for k, v in msg.samples.items():
                # publish carries every stage's timing of each message; lift adds infer + batch
                if child.spec.role == "publish" or (child.spec.role == "lift" and k in (INFER, BATCH)):
                    self.window.samples[k].extend(v)
                    self.totals.samples[k].extend(v)
        elif msg.kind is ControlKind.FATAL:
            self.error = error_of(msg)
        elif msg.kind is ControlKind.END_OF_INPUT:
            self.ended.add(msg.stream)
            lost = sum(b - a + 1 for a, b in self.lost.get(msg.stream, []))
            log.info("stream %s: end of input (%s)", msg.stream,
                     f"{lost} frames lost" if lost else "all frames published")
        elif msg.kind is ControlKind.LOST:
            self.lost.setdefault(msg.stream, []).append((msg.first, msg.last))
        elif msg.kind is ControlKind.SUBSCRIBER:
            self.subscribed = True
        elif msg.kind is ControlKind.SOURCE_END:
            log.debug("stream %s: source ended", msg.stream)

    def counters(self) -> dict[str, int]:
        """Cumulative counters over all stages and lives: published, dropped, corrupt, persons,
        garbage, restarts."""
        tot: dict[str, int] = defaultdict(int)
        for c in self.children.values():
            cur = c.totals()
            if c.spec.role in ("capture", "detect", "annotate"):
                tot["dropped"] += cur.get(Count.DROPPED, 0) + cur.get(Count.QUEUE_FULL, 0)
                tot["corrupt"] += cur.get(Count.CORRUPT, 0)
            if c.spec.role == "publish":
                # heartbeats, until the rings' count at the end: a killed stage's last ones are lost
                tot["published"] = cur.get(Count.FRAMES, 0) if self.published is None else self.published
                tot["persons"] = cur.get(Count.PERSONS, 0)
                tot["garbage"] = cur.get(Count.GARBAGE, 0)
        tot["restarts"] = sum(c.restarts for c in self.children.values())
        tot["lost"] = sum(b - a + 1 for spans in self.lost.values() for a, b in spans)
        return dict(tot)


class Supervisor:
    def __init__(self, cfg: RuntimeConfig, run_root: str | None = None) -> None:
        self.cfg = cfg
        check_shm_dir()  # before anything is made: a refused run leaves no folder behind
        for stale in graph.stale_run_dirs(run_root):  # left behind by a run killed with SIGKILL
            log.info("removing %s and its rings: the run that made it is gone", stale)
            graph.remove_run(stale)
        self.run_dir = graph.new_run_dir(run_root)
        # the ring names use the run folder's name, which is what stages see as their run id
        self.run_id = self.run_dir.name
        self.state = RunState({s.name: Child(s) for s in graph.stages(cfg)})
        self.children = self.state.children
        self.ctx = zmq.Context()
        self.control = self.ctx.socket(zmq.PULL)
        self.control.setsockopt(zmq.LINGER, 0)
        self.control.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
        self.control.bind(graph.endpoint(self.run_dir, "control"))
        self.stop_reason: str | None = None
        self._signals: dict[int, Any] = {}
        self.offline = cfg.capture.mode == "offline"
        self._held: list[Child] = []  # captures a pipeline restart starts once the rest is ready
        self._held_since = 0.0

    # -- lifecycle -----------------------------------------------------------------------------
    def run(self) -> int:
        """Run until the sources end, a signal, or an unrecoverable error (raised)."""
        (self.run_dir / "config.json").write_text(to_json(self.cfg))
        self._install_signals()
        try:
            self._start_all()
            self._loop()
        finally:
            self.shutdown()
            self._restore_signals()
        if self.state.error is not None:
            raise self.state.error
        self._log_summary()
        if self.stop_reason == "SIGINT":
            return 130  # Ctrl-C: the shell's code for SIGINT
        if self.state.lost:
            log.error("%s", lost_line(self.state.lost))
            return LOST_EXIT
        return 0

    def _install_signals(self) -> None:
        def handler(signum: int, frame: Any) -> None:
            self.stop_reason = signal.Signals(signum).name

        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError):  # not the main thread: the caller handles signals
                self._signals[sig] = signal.signal(sig, handler)

    def _restore_signals(self) -> None:
        for sig, old in self._signals.items():
            signal.signal(sig, old)

    def _spawn(self, child: Child) -> None:
        env = dict(
            os.environ,
            CAMERAPOSE_SUPERVISOR=str(os.getpid()),
            CAMERAPOSE_LOG_LEVEL=str(logging.getLogger().getEffectiveLevel()),
        )
        cmd = [sys.executable, "-m", "camerapose.runtime.stages", child.spec.name, str(self.run_dir)]
        # Ctrl-C signals the whole process group; the supervisor alone acts on it (SIGTERM to each
        # stage), so a stage still importing cannot die of it with a KeyboardInterrupt traceback.
        child.proc = subprocess.Popen(cmd, env=env, preexec_fn=dies_with_parent(ignore_sigint=True),
                                      stdin=subprocess.DEVNULL)
        child.ready = False
        child.last_seen = time.monotonic()
        log.debug("started %s (pid %d)", child.spec.name, child.proc.pid)

    def _start_all(self) -> None:
        captures = [c for c in self.children.values() if c.spec.role == "capture"]
        others = [c for c in self.children.values() if c.spec.role != "capture"]
        for c in others:
            self._spawn(c)
        deadline = time.monotonic() + self.cfg.supervisor.start_timeout_s
        while not all(c.ready for c in others):
            self._tick(0.05)
            if self._done():
                return
            if time.monotonic() > deadline:
                slow = [c.spec.name for c in others if not c.ready]
                raise StageFailed(
                    f"stage(s) {slow} did not start within {self.cfg.supervisor.start_timeout_s} s"
                )
        wait = self.cfg.publish.wait_subscriber_s
        if wait > 0:
            until = time.monotonic() + wait
            while not self.state.subscribed and time.monotonic() < until and not self._done():
                self._tick(0.05)
            if not self.state.subscribed:
                log.warning("no subscriber after %.1f s; starting anyway", wait)
        for c in captures:
            self._spawn(c)
        log.info(
            "running: %d source(s) -> %s (%s mode)",
            len(captures),
            self.cfg.publish.endpoint,
            self.cfg.capture.mode,
        )

    def _done(self) -> bool:
        return self.stop_reason is not None or self.state.error is not None

    def _loop(self) -> None:
        last_stats = time.monotonic()
        every = self.cfg.supervisor.stats_every_s
        while not self._done():
            self._tick(0.05)
            self._watch()
            self._start_held()
            if self._all_ended():
                self.stop_reason = "end of input"
            if every > 0 and time.monotonic() - last_stats >= every:
                self._log_stats(time.monotonic() - last_stats)
                last_stats = time.monotonic()
        log.info("stopping (%s)", self.stop_reason or "error")

    def _all_ended(self) -> bool:
        """Every non-looping file/folder/gst: pipeline stream has reported its end from the final stage."""
        if self.cfg.capture.loop:
            return False
        finite = [s.name for s in self.cfg.sources if s.kind in ("file", "folder", "gst")]
        return bool(finite) and len(finite) == len(self.cfg.sources) and set(finite) <= self.state.ended

    # -- control messages ------------------------------------------------------------------------
    def _tick(self, timeout: float) -> None:
        """Take every control message waiting (waiting up to `timeout` s for the first)."""
        if not self.control.poll(int(timeout * 1000)):
            return
        while True:
            try:
                raw = self.control.recv(zmq.NOBLOCK)
            except zmq.Again:
                return
            try:
                msg = Control.from_msg(unpack(raw))
            except ProtocolError as err:
                log.warning("ignoring a malformed control message (%s)", err)
                continue
            self.state.on_control(msg, time.monotonic())

    # -- watching --------------------------------------------------------------------------------
    def _watch(self) -> None:
        now = time.monotonic()
        for c in self.children.values():
            if c.proc is None:
                continue
            code = c.proc.poll()
            verdict = health(c, code, now, self.cfg.supervisor, self.state.ended)
            if verdict in (Health.OK, Health.FINISHED):
                continue
            if verdict is Health.HUNG:  # kill it, then treat it as dead
                log.warning("%s: no heartbeat for %.1f s; killing it", c.spec.name, now - c.last_seen)
                c.proc.kill()
                c.proc.wait()
                code = c.proc.returncode
            until = time.monotonic() + (1.0 if code == FATAL_EXIT else 0.0)
            self._tick(0)  # a fatal line may be on its way
            while not self._done() and time.monotonic() < until:
                self._tick(0.05)
            if self._done():
                return
            if code == FATAL_EXIT:
                self.state.error = StageFailed(
                    f"stage {c.spec.name} stopped with an error (see the log above)"
                )
                return
            if self.offline and c.spec.role in PIPELINE:
                self._restart_pipeline(c, code)
                return
            if self._may_restart(c, code):
                self._spawn(c)

    def _may_restart(self, c: Child, code: int) -> bool:
        """Count a restart of the dead stage `c` (exit code `code`), or give up after max_restarts."""
        why = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
        if c.restarts >= self.cfg.supervisor.max_restarts:
            self.state.error = StageFailed(
                f"stage {c.spec.name} died ({why}) and was restarted {c.restarts} times already; giving up"
            )
            return False
        c.restarts += 1
        c.new_life()
        log.warning(
            "%s died (%s); restarting (%d of %d)",
            c.spec.name,
            why,
            c.restarts,
            self.cfg.supervisor.max_restarts,
        )
        return True

    def _restart_pipeline(self, dead: Child, code: int) -> None:
        """Offline: restart capture, detect, lift and publish together after `dead` died.

        Whatever was in flight between them (queued messages, a frame half done) is dropped, and
        every stream goes on after its last published frame, marked in its ring: the captures read
        the frames after it again, detect and lift load their state saved at it (`Snapshots`), and
        publish never publishes a frame twice. The stages that were alive are stopped (SIGTERM, so
        their last heartbeat keeps the counters right); the captures start once the rest is ready
        again (and, with wait_subscriber_s, a subscriber has come back)."""
        if not self._may_restart(dead, code):
            return
        group = [c for c in self.children.values() if c.spec.role in PIPELINE]
        self._stop([c for c in group if c is not dead])
        self._tick(0.1)  # their last heartbeats
        for c in group:
            if c is not dead:
                c.new_life()
            c.proc = None
        for c in group:
            if c.spec.role != "capture":
                self._spawn(c)
        self._held = [c for c in group if c.spec.role == "capture"]
        self._held_since = time.monotonic()
        self.state.subscribed = False

    def _start_held(self) -> None:
        """Start the held captures once every other stage is ready (and, with wait_subscriber_s,
        a subscriber is back or that time has passed)."""
        if not self._held:
            return
        if not all(c.ready for c in self.children.values() if c.proc is not None):
            return
        wait = self.cfg.publish.wait_subscriber_s
        if wait > 0 and not self.state.subscribed and time.monotonic() - self._held_since < wait:
            return
        for c in self._held:
            self._spawn(c)
        self._held = []

    def _stop(self, children: list[Child]) -> None:
        """SIGTERM to each live one, SIGKILL to what is left after stop_timeout_s; reap them all."""
        live = [c for c in children if c.proc is not None and c.proc.poll() is None]
        for c in live:
            with contextlib.suppress(ProcessLookupError):
                c.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.cfg.supervisor.stop_timeout_s
        for c in live:
            try:
                c.proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("%s (pid %d) did not stop in time; killing it", c.spec.name, c.proc.pid)
                c.proc.kill()
        for c in children:  # reap every life (no zombies)
            if c.proc is not None:
                c.proc.wait()

    # -- shutdown ------------------------------------------------------------------------------
    def shutdown(self) -> None:
        """SIGTERM to all, SIGKILL to what is left after stop_timeout_s; remove rings and sockets."""
        self._stop(list(self.children.values()))
        self._tick(0)  # the stages' last heartbeats: final counters
        self.state.published = self._published_count()
        self.control.close(0)
        self.ctx.term()
        for seg in leftover_segments(self.run_id):
            seg.unlink(missing_ok=True)
        shutil.rmtree(self.run_dir, ignore_errors=True)

    def _published_count(self) -> int:
        """Frames published over the whole run, as the publish stage counted them in the rings."""
        total = 0
        for src in self.cfg.sources:
            try:
                ring = FrameRing.attach(graph.ring_name(self.run_id, src.name))
            except (FileNotFoundError, ValueError):
                continue  # the capture never started
            total += ring.published_count
            ring.close()
        return total

    # -- stats -----------------------------------------------------------------------------------
    def counters(self) -> dict[str, int]:
        """Cumulative counters over all stages and lives (RunState.counters)."""
        return self.state.counters()

    def _log_stats(self, dt: float) -> None:
        tot = self.state.counters()
        window = self.state.window
        log.info("%s", stats_line(tot, tot.get("published", 0) - window.published, dt, window.samples))
        window.published = tot.get("published", 0)
        window.samples = defaultdict(list)

    def _log_summary(self) -> None:
        offline = self.cfg.capture.mode == "offline"
        log.info("%s", summary_line(self.state.counters(), self.state.totals.samples, offline))


def stats_line(tot: dict[str, int], frames: int, dt: float, samples: dict[str, list[float]]) -> str:
    """The periodic line: `frames` published in the last `dt` s, the cumulative counters `tot`, and
    p50/p95 of each latency sample list (ms) of the window, in pipeline order."""
    lat = "  ".join(
        f"{k} {percentile(samples[k], 50):.1f}/{percentile(samples[k], 95):.1f}"
        for k in latency_order(samples)
        if samples[k]
    )
    published = tot.get("published", 0)
    return (
        f"{frames / dt:.1f} fps  dropped {tot.get('dropped', 0)}  corrupt {tot.get('corrupt', 0)}  "
        f"persons/frame {tot.get('persons', 0) / max(1, published):.1f}  ms p50/p95: {lat or '-'}"
    )


def summary_line(tot: dict[str, int], samples: dict[str, list[float]], offline: bool) -> str:
    """The last line of a run: its counters and its median glass-to-publish latency."""
    total = samples.get(Timing.TOTAL, [])
    # Offline, frames are read as fast as they can be queued, so their latency is mostly queueing.
    queued = " (offline: includes queueing)" if offline else ""
    lost = f"{tot['lost']} LOST, " if tot.get("lost") else ""
    return (
        f"done: {tot.get('published', 0)} frames published, {tot.get('dropped', 0)} dropped, "
        f"{tot.get('corrupt', 0)} corrupt, {lost}{tot.get('restarts', 0)} restarts; glass-to-publish p50 "
        f"{percentile(total, 50) if total else float('nan'):.1f} ms{queued}"
    )


def lost_line(lost: dict[str, list[tuple[int, int]]]) -> str:
    """The frames an offline run lost, per stream: 'frames lost, never published: cam 12-15, 40'."""
    spans = [f"{s} {a}-{b}" if b > a else f"{s} {a}" for s, runs in sorted(lost.items()) for a, b in runs]
    return "frames lost, never published: " + ", ".join(spans)


def latency_order(samples: dict[str, list[float]]) -> list[str]:
    """The sample names: the latency stages in pipeline order, then the others by name."""
    return [k for k in LATENCY_ORDER if k in samples] + sorted(k for k in samples if k not in LATENCY_ORDER)


def percentile(v: list[float], q: float) -> float:
    return float(np.percentile(v, q)) if v else float("nan")


def error_of(msg: Control) -> CameraPoseError:
    """A FATAL message -> the error it reports, of its class when that is a CameraPoseError."""
    from camerapose.core import errors

    cls = getattr(errors, msg.error_kind, None)
    if isinstance(cls, type) and issubclass(cls, CameraPoseError):
        return cls(msg.error)
    return StageFailed(msg.error)
