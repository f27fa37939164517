"""`camerapose detect VIDEO`: 2D keypoints + track ids for every person in a video.

    camerapose detect clip.mp4 --json --max-frames 100 > poses.jsonl
    camerapose detect clip.mp4 --annotate out.mp4
    camerapose detect clip.mp4 --config my.toml --set detector.max_persons=2   # [detector] tables
    camerapose detect "gst:v4l2src ! video/x-raw,width=1280,height=720" --max-frames 300 --json

With --json, stdout gets one JSON object per frame:
    {"frame": i, "t": seconds, "image_size": [w, h], "persons": [{"id": int, "kp2d": [[x, y] x 17],
     "conf": [17 floats], "box": [x0, y0, x1, y1], "score": float,
     "kp3d_teacher": [[x, y, z] x 17]}]}
(H36M-17 joint order, pixels; the keys are the stream's, docs/schema.md). "kp3d_teacher" is the
BlazePose backend's own 3D pose (metres, pelvis at 0, x right, y down, z away from the camera);
other backends leave it out. Without --json, a one-paragraph summary.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from camerapose.cli import Command
from camerapose.core.config import default_of, load, nest
from camerapose.core.errors import InputError
from camerapose.runtime.detect.base import DetectorConfig
from camerapose.runtime.detect.registry import create_detector
from camerapose.runtime.draw.annotate import draw_persons
from camerapose.runtime.draw.video import VideoWriter, open_video
from camerapose.runtime.sources import open_source
from camerapose.runtime.sources.base import GST_PREFIX, CaptureConfig, SourceSpec, path_problem

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DetectConfig:
    """What `camerapose detect --config` reads: the [detector] tables of a runtime TOML
    (runtime/runtime.toml: [detector], [detector.tracker], [detector.tracker.one_euro], [detector.onnx])."""

    detector: DetectorConfig = field(default_factory=DetectorConfig)


# Flags that set one config key each (argparse dest -> key); `--set KEY=VALUE` reaches every key.
DETECT_FLAGS = {
    "backend": "detector.backend",
    "max_persons": "detector.max_persons",
    "detect_every": "detector.detect_every",
}


def configure(parser: argparse.ArgumentParser) -> None:
    def default(key: str) -> object:
        return default_of(DetectConfig, key)

    parser.add_argument("video", help="video file to read (anything OpenCV decodes), or gst:PIPELINE, a "
                                      "GStreamer pipeline without its sink (docs/jetson.md)")
    parser.add_argument("--json", action="store_true", help="print one JSON line per frame on stdout")
    parser.add_argument("--max-frames", type=int, default=None, metavar="N",
                        help="stop after N frames (default: the whole video)")
    parser.add_argument("--annotate", type=Path, default=None, metavar="OUT.mp4",
                        help="also write the video with skeletons and track ids drawn")
    parser.add_argument("--config", type=Path, default=None, metavar="TOML",
                        help="detector config file: the [detector] tables of runtime/runtime.toml "
                             "([detector], [detector.tracker], [detector.tracker.one_euro], [detector.onnx])")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                        help="set any detector option, e.g. --set detector.max_persons=2 or "
                             "--set detector.track_memory_s=4 (repeatable; TOML values, a bare word "
                             "is a string; overrides --config and the flags)")
    parser.add_argument("--backend", choices=["blazepose", "onnx"], default=None,
                        help=f"2D backend (default {default('detector.backend')})")
    parser.add_argument("--max-persons", type=int, default=None,
                        help=f"most persons per frame (default {default('detector.max_persons')})")
    parser.add_argument("--detect-every", type=int, default=None, metavar="N",
                        help=f"run the person detector every N frames (default "
                             f"{default('detector.detect_every')}); 1 = every frame, no tracking mode")
    parser.add_argument("--no-smooth", action="store_true", help="turn the One-Euro keypoint filter off")


def config_from_args(args: argparse.Namespace) -> DetectorConfig:
    """Defaults <- --config <- the flags <- each --set."""
    flags = []
    for dest, key in DETECT_FLAGS.items():
        value = getattr(args, dest)
        if value is not None:
            flags.append((f"--{dest.replace('_', '-')} {value}", nest(key, value)))
    if args.no_smooth:
        flags.append(("--no-smooth", nest("detector.tracker.smooth", False)))
    return load(DetectConfig, args.config, args.sets, flags).detector


def run(args: argparse.Namespace) -> int:
    if args.video[: len(GST_PREFIX)].lower() != GST_PREFIX:
        problem = path_problem(args.video, missing="no such video file")
        if problem is not None or Path(args.video).is_dir():
            raise InputError(f"{args.video}: {problem or 'is a folder, not a video file'}")
    if args.max_frames is not None and args.max_frames < 0:
        raise InputError("--max-frames must be >= 0")
    cfg = config_from_args(args)
    source = open_source(SourceSpec(args.video), CaptureConfig(mode="offline"))  # as `run` reads it
    total = getattr(source, "frame_count", 0) or None  # a pipeline does not say how long it is
    if args.max_frames is not None:
        total = min(total or args.max_frames, args.max_frames)
    writer = None
    ids: set[int] = set()
    n = persons = 0
    spent = 0.0
    try:
        bar = tqdm(total=total, unit="frame", disable=None, file=sys.stderr)
        with create_detector(cfg) as det, bar:
            while args.max_frames is None or n < args.max_frames:
                got = source.read()
                if got is None:
                    break
                frame, t = got.image, got.t_media
                start = time.perf_counter()
                found = det.detect([frame], [t])[0]
                spent += time.perf_counter() - start
                if args.json:
                    size = [frame.shape[1], frame.shape[0]]
                    print(json.dumps({"frame": got.index, "t": round(t, 6), "image_size": size,
                                      "persons": [p.to_json() for p in found]}), flush=False)
                if args.annotate is not None:
                    writer = writer or _writer(args.annotate, source.fps, frame.shape[1], frame.shape[0])
                    writer.write(draw_persons(frame, found))
                ids.update(p.id for p in found)
                persons += len(found)
                n += 1
                bar.update()
    finally:
        source.close()
        if writer is not None:
            writer.release()
        sys.stdout.flush()
    if n == 0:
        raise InputError(f"{args.video}: no frame could be decoded")
    if not args.json:
        print(f"{args.video}: {n} frames, {persons} person detections, {len(ids)} track id(s) "
              f"{sorted(ids)}, {1e3 * spent / n:.1f} ms/frame ({cfg.backend})")
    if args.annotate is not None:
        log.info("annotated video written to %s", args.annotate)
    return 0


def _writer(path: Path, fps: float, width: int, height: int) -> VideoWriter:
    path.parent.mkdir(parents=True, exist_ok=True)
    return open_video(path, fps, (width, height))


COMMANDS = {"detect": Command(configure, run)}
