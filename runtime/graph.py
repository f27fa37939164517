"""The process graph, declared in ONE place: stages, the channels between them, and their bounds.

    capture:<stream> (one per source) --frames--> detect --persons--> lift --poses--> publish
                                                                             (--annotate--> annotate)
    with --calibration:                               ... lift --lifted--> fuse --poses--> publish
                                                      (fuse adds the world stream)
    every stage --control--> supervisor (ready, heartbeats with stats, fatal errors, end of stream)

Frames themselves never travel on a channel: each capture writes them into its own shared-memory
ring (`frame_ring.FrameRing`, named here) and sends only {stream, frame index, timestamps}. Channels are
ZeroMQ PUSH/PULL over ipc:// in the run's private folder, msgpack-encoded; the consumer binds, the
producers connect (so a restarted stage is reconnected by ZeroMQ itself). `hwm` bounds each
queue: in live mode a capture whose queue is full drops the frame (counted); in offline mode it
waits, and so does every stage after it, so nothing is lost and memory stays bounded.

The run's private folder is made here too (`new_run_dir`): it holds the supervisor's pid, so that a
later run can remove the folder and rings of a run whose supervisor was killed (`stale_run_dirs`).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from camerapose.runtime.frame_ring import PREFIX, leftover_segments

from .config import RuntimeConfig


@dataclass(frozen=True)
class Channel:
    name: str
    hwm: int  # messages queued on each side before the producer drops (live) or waits (offline)


@dataclass(frozen=True)
class StageSpec:
    name: str  # unique: "capture:<stream>", "detect", "lift", "publish", "annotate"
    role: str  # which loop runs it (stages.ROLES)
    inputs: tuple[str, ...]  # channels it binds and reads
    outputs: tuple[str, ...]  # channels it connects and writes
    stream: str = ""  # capture stages: the stream it feeds


CONTROL = Channel("control", 1000)


def channels(cfg: RuntimeConfig) -> dict[str, Channel]:
    # frames: fewer queued than ring slots, so a queued frame is normally still in its slot.
    frames_hwm = max(1, cfg.capture.ring_slots // 2)
    return {
        c.name: c
        for c in (
            Channel("frames", frames_hwm),
            Channel("persons", 16),
            Channel("lifted", 16),
            Channel("poses", 16),
            Channel("annotate", 8),
            CONTROL,
        )
    }


def stages(cfg: RuntimeConfig) -> list[StageSpec]:
    """The stages of this run, downstream first (the order they are started in)."""
    annotate = cfg.output.draws
    out = []
    if annotate:
        out.append(StageSpec("annotate", "annotate", ("annotate",), ()))
    out.append(StageSpec("publish", "publish", ("poses",), ("annotate",) if annotate else ()))
    if cfg.fuse.calibration:  # several calibrated cameras: lift -> fuse (the world stream) -> publish
        out += [StageSpec("fuse", "fuse", ("lifted",), ("poses",)),
                StageSpec("lift", "lift", ("persons",), ("lifted",))]
    else:
        out.append(StageSpec("lift", "lift", ("persons",), ("poses",)))
    out.append(StageSpec("detect", "detect", ("frames",), ("persons",)))
    out += [StageSpec(f"capture:{s.name}", "capture", (), ("frames",), stream=s.name) for s in cfg.sources]
    return out


def last_frame_reader(cfg: RuntimeConfig) -> str:
    """The stage that releases ring slots in offline mode: annotate, the last one that reads frames,
    else publish, so that a frame stays in its ring until it is published (a restarted pipeline
    reads the frames it has not published yet again)."""
    return "annotate" if cfg.output.draws else "publish"


def final_stage(cfg: RuntimeConfig) -> str:
    """The stage that reports a stream's end to the supervisor once its last frame is out."""
    return "annotate" if cfg.output.draws else "publish"


def endpoint(run_dir: Path, channel: str) -> str:
    return f"ipc://{run_dir / channel}.sock"


def ring_name(run_id: str, stream: str) -> str:
    return f"{PREFIX}{run_id}-{stream}"


# -- the run folder ---------------------------------------------------------------------------------
# Each run has a private folder (ipc sockets, config.json) named RUN_PREFIX..., in $TMPDIR by
# default; its rings are named after it. The supervisor's pid in PID_FILE tells a later run whether
# the folder's owner is still alive: a supervisor killed with SIGKILL cannot clean up after itself.
RUN_PREFIX = "cp-"
PID_FILE = "supervisor.pid"
RUN_NAME = re.compile(RUN_PREFIX + r"[0-9a-f]{8}-[a-z0-9_]{8}")  # what new_run_dir makes


def new_run_dir(root: str | None = None) -> Path:
    """A new private run folder in `root` (default: the temp folder), holding this process's pid."""
    run_dir = Path(tempfile.mkdtemp(prefix=f"{RUN_PREFIX}{secrets.token_hex(4)}-", dir=root))
    (run_dir / PID_FILE).write_text(str(os.getpid()))
    return run_dir


def stale_run_dirs(root: str | None = None) -> list[Path]:
    """Run folders in `root` whose supervisor (the pid in their PID_FILE) is gone. Only folders of
    this user named exactly as `new_run_dir` names them count (their name also selects the rings
    `remove_run` deletes); one without a readable pid is left alone (a run still being set up)."""
    out = []
    for folder in Path(root or tempfile.gettempdir()).glob(f"{RUN_PREFIX}*"):
        if not RUN_NAME.fullmatch(folder.name):
            continue
        try:
            mine = folder.lstat().st_uid == os.getuid()
            pid = int((folder / PID_FILE).read_text())
        except (OSError, ValueError):
            continue
        if mine and pid > 0 and not _alive(pid):
            out.append(folder)
    return sorted(out)


def remove_run(run_dir: Path) -> None:
    """Remove a run's shared-memory rings and its folder (either may be gone already)."""
    for seg in leftover_segments(run_dir.name):
        seg.unlink(missing_ok=True)
    shutil.rmtree(run_dir, ignore_errors=True)


def _alive(pid: int) -> bool:
    """Whether process `pid` exists (a zombie counts until it is reaped; a reused pid counts too,
    which only ever keeps a stale folder, never removes a live one)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True
