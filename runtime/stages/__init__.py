"""The stage processes: one loop per role, started by the supervisor as
`python -m camerapose.runtime.stages NAME RUN_DIR` (the config is RUN_DIR/config.json).

    base.py      Stage (sockets, heartbeats, the stop flag), RingReader, Tick
    capture.py   a source -> its frame ring + FrameNotices
    detect.py    FrameNotices -> Detections (take_batch, detections)
    lift.py      Detections -> Poses (lift_items, pose_messages)
    publish.py   Poses -> the public messages (publish_one)
    annotate.py  published messages -> annotated video / window

Each loop: read its input channel (newest-wins in live mode), do its one job, write its output
channel, and every `heartbeat_s` send the supervisor a heartbeat with cumulative counters and the
latency samples (ms) since the last one. A user-caused error (bad source, port in use, missing
model) is sent as one "fatal" line and the process exits 3 (not restarted); any other exception
exits non-zero and the supervisor restarts the stage (offline: capture, detect, lift and publish
together, from each stream's last published frame; detect and lift keep their state per frame for
that in `base.Snapshots`). SIGTERM ends the loop within ~0.1 s.

The messages are `protocol`'s. Each loop only moves them; what a stage decides per tick (which
frames to detect, what to send, what to count) is a pure function beside it, testable without
processes.
"""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path
from typing import Any

from camerapose.core.errors import CameraPoseError
from camerapose.runtime import graph
from camerapose.runtime.config import from_json
from camerapose.runtime.protocol import Control
from camerapose.runtime.stages.annotate import AnnotateStage
from camerapose.runtime.stages.base import FATAL_EXIT, Stage
from camerapose.runtime.stages.capture import CaptureStage
from camerapose.runtime.stages.detect import DetectStage
from camerapose.runtime.stages.fuse import FuseStage
from camerapose.runtime.stages.lift import LiftStage
from camerapose.runtime.stages.publish import PublishStage

ROLES: dict[str, type[Stage]] = {
    "capture": CaptureStage,
    "detect": DetectStage,
    "lift": LiftStage,
    "fuse": FuseStage,
    "publish": PublishStage,
    "annotate": AnnotateStage,
}


def main(argv: list[str]) -> int:
    """Run stage NAME of the run in RUN_DIR until SIGTERM (argv: NAME RUN_DIR); the exit code."""
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
        stage.tell_msg(Control.fatal(spec.name, os.getpid(), err))
        code = FATAL_EXIT
    finally:
        stage.heartbeat(force=True)
        stage.close()
    return code
