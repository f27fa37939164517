"""The supervisor: starts the stages of `graph.stages`, watches them, restarts them, shuts down cleanly.

    code = Supervisor(cfg).run()        # blocks; 0 when every file source ended or on SIGINT/SIGTERM

- Stages are child processes (`python -m camerapose.runtime.stages`), started downstream first;
  the captures start only when every other stage said "ready" (models loaded, socket bound) and,
  with `publish.wait_subscriber_s`, a first subscriber is connected.
- Each stage sends a heartbeat every `heartbeat_s`; a stage that exited or stayed silent longer
  than `heartbeat_timeout_s` is killed and restarted, at most `max_restarts` times, after which
  the run stops with an error naming the stage. A stage that reports a user error ("fatal": bad
  source, port in use, missing model) stops the run at once with that one line.
- SIGINT / SIGTERM: every stage gets SIGTERM, then SIGKILL after `stop_timeout_s`; the run folder
  (ipc sockets) and every shared-memory ring are removed. Children also get SIGTERM if the
  supervisor itself dies (PR_SET_PDEATHSIG), so nothing outlives it.
- Every `stats_every_s` one log line: fps, drops, persons, latency p50/p95 per stage.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack
import numpy as np
import zmq

from camerapose.core.errors import CameraPoseError, InputError
from camerapose.runtime import graph
from camerapose.runtime.frame_ring import leftover_segments

from .config import RuntimeConfig, to_json
from .stages import FATAL_EXIT

log = logging.getLogger("camerapose.runtime")


class StageFailed(CameraPoseError):
    """A stage kept dying (more than max_restarts) or could not start."""


def _pdeathsig() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class Child:
    spec: graph.StageSpec
    proc: subprocess.Popen | None = None
    restarts: int = 0
    ready: bool = False
    last_seen: float = 0.0
    started: float = 0.0
    counters: dict[str, int] = field(default_factory=dict)
    base: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # counters of earlier lives


@dataclass
class Stats:
    """What the periodic log line and `Supervisor.summary` report."""

    published: int = 0
    samples: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))


class Supervisor:
    def __init__(self, cfg: RuntimeConfig, run_root: str | None = None) -> None:
        self.cfg = cfg
        self.run_id = secrets.token_hex(4)
        self.run_dir = Path(tempfile.mkdtemp(prefix=f"cp-{self.run_id}-", dir=run_root))
        # the ring names use the run folder's name, which is what stages see as their run id
        self.run_id = self.run_dir.name
        self.children = {s.name: Child(s) for s in graph.stages(cfg)}
        self.ctx = zmq.Context()
        self.control = self.ctx.socket(zmq.PULL)
        self.control.setsockopt(zmq.LINGER, 0)
        self.control.bind(graph.endpoint(self.run_dir, "control"))
        self.stop_reason: str | None = None
        self.error: CameraPoseError | None = None
        self.ended: set[str] = set()
        self.subscribed = False
        self.window = Stats()
        self.totals = Stats()
        self.backend = ""
        self._signals: dict[int, Any] = {}

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
        if self.error is not None:
            raise self.error
        self._log_summary()
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
        child.proc = subprocess.Popen(cmd, env=env, preexec_fn=_pdeathsig, stdin=subprocess.DEVNULL)
        child.ready = False
        child.started = child.last_seen = time.monotonic()
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
            while not self.subscribed and time.monotonic() < until and not self._done():
                self._tick(0.05)
            if not self.subscribed:
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
        return self.stop_reason is not None or self.error is not None

    def _loop(self) -> None:
        last_stats = time.monotonic()
        every = self.cfg.supervisor.stats_every_s
        while not self._done():
            self._tick(0.05)
            self._watch()
            if self._all_ended():
                self.stop_reason = "end of input"
            if every > 0 and time.monotonic() - last_stats >= every:
                self._log_stats(time.monotonic() - last_stats)
                last_stats = time.monotonic()
        log.info("stopping (%s)", self.stop_reason or "error")

    def _all_ended(self) -> bool:
        """Every non-looping file/folder stream has reported its end from the final stage."""
        if self.cfg.capture.loop:
            return False
        finite = [s.name for s in self.cfg.sources if s.kind in ("file", "folder")]
        return bool(finite) and len(finite) == len(self.cfg.sources) and set(finite) <= self.ended

    # -- control messages ------------------------------------------------------------------------
    def _tick(self, timeout: float) -> None:
        if not self.control.poll(int(timeout * 1000)):
            return
        while True:
            try:
                raw = self.control.recv(zmq.NOBLOCK)
            except zmq.Again:
                return
            try:
                self._on_message(msgpack.unpackb(raw, raw=False))
            except (ValueError, KeyError, TypeError, msgpack.UnpackException):
                log.warning("ignoring a malformed control message")

    def _on_message(self, m: dict[str, Any]) -> None:
        child = self.children.get(m["stage"])
        if child is None:
            return
        if child.proc is not None and m.get("pid") != child.proc.pid:
            return  # from a previous life of the stage
        child.last_seen = time.monotonic()
        kind = m["type"]
        if kind == "ready":
            child.ready = True
            self.backend = m.get("backend", self.backend)
            log.debug("%s ready", child.spec.name)
        elif kind == "hb":
            child.counters = dict(m["counters"])
            for k, v in m["samples"].items():
                # publish carries every stage's timing of each message; lift adds infer + batch
                if child.spec.role == "publish" or (child.spec.role == "lift" and k in ("infer", "batch")):
                    self.window.samples[k].extend(v)
                    self.totals.samples[k].extend(v)
        elif kind == "fatal":
            self.error = InputError(m["error"]) if m.get("kind") == "InputError" else _rebuild(m)
        elif kind == "eof":
            self.ended.add(m["stream"])
            log.info("stream %s: end of input (all frames published)", m["stream"])
        elif kind == "subscriber":
            self.subscribed = True
        elif kind == "source_end":
            log.debug("stream %s: source ended", m["stream"])

    # -- watching --------------------------------------------------------------------------------
    def _watch(self) -> None:
        sup = self.cfg.supervisor
        now = time.monotonic()
        for c in self.children.values():
            if c.proc is None:
                continue
            code = c.proc.poll()
            silent = now - c.last_seen > (sup.heartbeat_timeout_s if c.ready else sup.start_timeout_s)
            if code is None and not silent:
                continue
            if code == 0 and c.spec.role == "capture" and c.spec.stream in self.ended:
                continue
            if code is None:  # hung: kill it, then treat it as dead
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
                self.error = StageFailed(f"stage {c.spec.name} stopped with an error (see the log above)")
                return
            self._restart(c, code)

    def _restart(self, c: Child, code: int) -> None:
        why = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
        if c.restarts >= self.cfg.supervisor.max_restarts:
            self.error = StageFailed(
                f"stage {c.spec.name} died ({why}) and was restarted {c.restarts} times already; giving up"
            )
            return
        c.restarts += 1
        for k, v in c.counters.items():
            c.base[k] += v
        c.counters = {}
        log.warning(
            "%s died (%s); restarting (%d of %d)",
            c.spec.name,
            why,
            c.restarts,
            self.cfg.supervisor.max_restarts,
        )
        self._spawn(c)

    # -- shutdown ------------------------------------------------------------------------------
    def shutdown(self) -> None:
        """SIGTERM to all, SIGKILL to what is left after stop_timeout_s; remove rings and sockets."""
        live = [c for c in self.children.values() if c.proc is not None and c.proc.poll() is None]
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
        for c in self.children.values():  # reap every life (no zombies)
            if c.proc is not None:
                c.proc.wait()
        self._tick(0)  # the stages' last heartbeats: final counters
        self.control.close(0)
        self.ctx.term()
        for seg in leftover_segments(self.run_id):
            seg.unlink(missing_ok=True)
        shutil.rmtree(self.run_dir, ignore_errors=True)

    # -- stats -----------------------------------------------------------------------------------
    def counters(self) -> dict[str, int]:
        """Cumulative counters over all stages and lives: frames published, drops, corrupt, persons."""
        tot: dict[str, int] = defaultdict(int)
        for c in self.children.values():
            cur = {k: c.base.get(k, 0) + v for k, v in c.counters.items()}
            if c.spec.role in ("capture", "detect", "annotate"):
                tot["dropped"] += cur.get("dropped", 0) + cur.get("queue_full", 0)
                tot["corrupt"] += cur.get("corrupt", 0)
            if c.spec.role == "publish":
                tot["published"] = cur.get("frames", 0)
                tot["persons"] = cur.get("persons", 0)
                tot["garbage"] = cur.get("garbage", 0)
        tot["restarts"] = sum(c.restarts for c in self.children.values())
        return dict(tot)

    def _log_stats(self, dt: float) -> None:
        tot = self.counters()
        frames = tot.get("published", 0) - self.window.published
        self.window.published = tot.get("published", 0)
        s = self.window.samples
        lat = "  ".join(f"{k} {_pct(s[k], 50):.1f}/{_pct(s[k], 95):.1f}" for k in _order(s) if s[k])
        log.info(
            "%.1f fps  dropped %d  corrupt %d  persons/frame %.1f  ms p50/p95: %s",
            frames / dt,
            tot.get("dropped", 0),
            tot.get("corrupt", 0),
            tot.get("persons", 0) / max(1, tot.get("published", 1)),
            lat or "-",
        )
        self.window.samples = defaultdict(list)

    def _log_summary(self) -> None:
        tot = self.counters()
        total = self.totals.samples.get("total", [])
        # Offline, frames are read as fast as they can be queued, so their latency is mostly queueing.
        queued = " (offline: includes queueing)" if self.cfg.capture.mode == "offline" else ""
        log.info(
            "done: %d frames published, %d dropped, %d corrupt, %d restarts; glass-to-publish p50 %.1f ms%s",
            tot.get("published", 0),
            tot.get("dropped", 0),
            tot.get("corrupt", 0),
            tot.get("restarts", 0),
            _pct(total, 50) if total else float("nan"),
            queued,
        )


STAGE_ORDER = ("capture", "wait_detect", "detect", "wait_lift", "lift", "wait_publish", "total")


def _order(samples: dict[str, list[float]]) -> list[str]:
    return [k for k in STAGE_ORDER if k in samples] + sorted(k for k in samples if k not in STAGE_ORDER)


def _pct(v: list[float], q: float) -> float:
    return float(np.percentile(v, q)) if v else float("nan")


def _rebuild(m: dict[str, Any]) -> CameraPoseError:
    from camerapose.core import errors

    cls = getattr(errors, str(m.get("kind")), None)
    if isinstance(cls, type) and issubclass(cls, CameraPoseError):
        return cls(m["error"])
    return StageFailed(m["error"])
