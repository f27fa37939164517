"""The process graph, declared in ONE place: stages, the channels between them, and their bounds.

    capture:<stream> (one per source) --frames--> detect --persons--> lift --poses--> publish
                                                                             (--annotate--> annotate)
    every stage --control--> supervisor (ready, heartbeats with stats, fatal errors, end of stream)

Frames themselves never travel on a channel: each capture writes them into its own shared-memory
ring (`frame_ring.FrameRing`, named here) and sends only {stream, frame index, timestamps}. Channels are
ZeroMQ PUSH/PULL over ipc:// in the run's private folder, msgpack-encoded; the consumer binds, the
producers connect (so a restarted stage is reconnected by ZeroMQ itself). `hwm` bounds each
queue: in live mode a capture whose queue is full drops the frame (counted); in offline mode it
waits, and so does every stage after it, so nothing is lost and memory stays bounded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from camerapose.runtime.frame_ring import PREFIX

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
    restartable: bool = True


CONTROL = Channel("control", 1000)


def channels(cfg: RuntimeConfig) -> dict[str, Channel]:
    # frames: fewer queued than ring slots, so a queued frame is normally still in its slot.
    frames_hwm = max(1, cfg.capture.ring_slots // 2)
    return {
        c.name: c
        for c in (
            Channel("frames", frames_hwm),
            Channel("persons", 16),
            Channel("poses", 16),
            Channel("annotate", 8),
            CONTROL,
        )
    }


def stages(cfg: RuntimeConfig) -> list[StageSpec]:
    """The stages of this run, downstream first (the order they are started in)."""
    annotate = bool(cfg.output.annotate or cfg.output.show)
    out = []
    if annotate:
        out.append(StageSpec("annotate", "annotate", ("annotate",), ()))
    out += [
        StageSpec("publish", "publish", ("poses",), ("annotate",) if annotate else ()),
        StageSpec("lift", "lift", ("persons",), ("poses",)),
        StageSpec("detect", "detect", ("frames",), ("persons",)),
    ]
    out += [StageSpec(f"capture:{s.name}", "capture", (), ("frames",), stream=s.name) for s in cfg.sources]
    return out


def last_frame_reader(cfg: RuntimeConfig) -> str:
    """The stage that releases ring slots in offline mode (the last one that reads frames)."""
    return "annotate" if (cfg.output.annotate or cfg.output.show) else "detect"


def final_stage(cfg: RuntimeConfig) -> str:
    """The stage that reports a stream's end to the supervisor once its last frame is out."""
    return "annotate" if (cfg.output.annotate or cfg.output.show) else "publish"


def endpoint(run_dir: Path, channel: str) -> str:
    return f"ipc://{run_dir / channel}.sock"


def ring_name(run_id: str, stream: str) -> str:
    return f"{PREFIX}{run_id}-{stream}"
