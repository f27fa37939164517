"""`camerapose detect VIDEO`: 2D keypoints + track ids for every person in a video.

    camerapose detect clip.mp4 --json --max-frames 100 > poses.jsonl
    camerapose detect clip.mp4 --annotate out.mp4

With --json, stdout gets one JSON object per frame:
    {"frame": i, "t": seconds, "image_size": [w, h], "persons": [{"id": int, "keypoints": [[x, y] x 17],
     "confidence": [17 floats], "box": [x0, y0, x1, y1], "score": float,
     "world": [[x, y, z] x 17]}]}
(H36M-17 joint order, pixels). "world" is the BlazePose backend's own 3D pose (metres, pelvis at 0,
x right, y down, z away from the camera); other backends leave it out. Without --json, a
one-paragraph summary.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import fields, replace
from pathlib import Path

import cv2
from tqdm import tqdm

from camerapose.cli import Command
from camerapose.core.errors import InputError
from camerapose.core.one_euro import OneEuroConfig
from camerapose.runtime.detect.base import DetectorConfig, OnnxModelConfig
from camerapose.runtime.detect.registry import create_detector
from camerapose.runtime.detect.tracker import TrackerConfig
from camerapose.runtime.draw.annotate import draw_persons

log = logging.getLogger(__name__)


def configure(parser: argparse.ArgumentParser) -> None:
    d = DetectorConfig.__dataclass_fields__
    parser.add_argument("video", type=Path, help="video file to read (anything OpenCV decodes)")
    parser.add_argument("--json", action="store_true", help="print one JSON line per frame on stdout")
    parser.add_argument("--max-frames", type=int, default=None, metavar="N",
                        help="stop after N frames (default: the whole video)")
    parser.add_argument("--annotate", type=Path, default=None, metavar="OUT.mp4",
                        help="also write the video with skeletons and track ids drawn")
    parser.add_argument("--config", type=Path, default=None, metavar="TOML",
                        help="detector config file: keys of DetectorConfig at top level or under [detector]; "
                             "tables [detector.tracker], [detector.tracker.one_euro], [detector.onnx]")
    parser.add_argument("--backend", choices=["blazepose", "onnx"], default=None,
                        help=f"2D backend (default {d['backend'].default})")
    parser.add_argument("--max-persons", type=int, default=None,
                        help=f"most persons per frame (default {d['max_persons'].default})")
    parser.add_argument("--detect-every", type=int, default=None, metavar="N",
                        help=f"run the person detector every N frames (default {d['detect_every'].default}); "
                             "1 = every frame, no tracking mode")
    parser.add_argument("--no-smooth", action="store_true", help="turn the One-Euro keypoint filter off")


def load_config(path: Path | None) -> DetectorConfig:
    """DetectorConfig from a TOML file (or the defaults); unknown keys are an InputError."""
    if path is None:
        return DetectorConfig()
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        raise InputError("--config needs Python 3.11+ (tomllib)") from None
    try:
        data = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise InputError(f"{path}: cannot read config ({err})") from None
    data = data.get("detector", data)
    return config_from_dict(data, str(path))


def config_from_dict(data: dict, where: str = "config") -> DetectorConfig:
    """DetectorConfig from a dict shaped like the TOML file (tables tracker, tracker.one_euro, onnx)."""
    data = dict(data)
    trk = dict(data.pop("tracker", {}) or {})
    euro = dict(trk.pop("one_euro", {}) or {})
    onnx = dict(data.pop("onnx", {}) or {})
    for key in ("input_size", "mean", "std"):
        if key in onnx:
            onnx[key] = tuple(onnx[key])
    for cls, values in ((DetectorConfig, data), (TrackerConfig, trk), (OneEuroConfig, euro),
                        (OnnxModelConfig, onnx)):
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise InputError(f"{where}: unknown {cls.__name__} key(s) {unknown}; known: {sorted(known)}")
    try:
        tracker = TrackerConfig(**trk, one_euro=OneEuroConfig(**euro))
        return DetectorConfig(**data, tracker=tracker, onnx=OnnxModelConfig(**onnx))
    except (TypeError, ValueError) as err:
        raise InputError(f"{where}: {err}") from None


def config_from_args(args: argparse.Namespace) -> DetectorConfig:
    cfg = load_config(args.config)
    over = {k: v for k, v in (("backend", args.backend), ("max_persons", args.max_persons),
                              ("detect_every", args.detect_every)) if v is not None}
    cfg = replace(cfg, **over) if over else cfg
    return cfg.with_one_euro(None) if args.no_smooth else cfg


def run(args: argparse.Namespace) -> int:
    if not args.video.is_file():
        raise InputError(f"{args.video}: no such video file")
    if args.max_frames is not None and args.max_frames < 0:
        raise InputError("--max-frames must be >= 0")
    cfg = config_from_args(args)
    cap = cv2.VideoCapture(str(args.video))
    if not cap.isOpened():
        raise InputError(f"{args.video}: cannot decode this file as a video")
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or None
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
                ok, frame = cap.read()
                if not ok:
                    break
                t = n / fps
                start = time.perf_counter()
                found = det.detect([frame], [t])[0]
                spent += time.perf_counter() - start
                if args.json:
                    size = [frame.shape[1], frame.shape[0]]
                    print(json.dumps({"frame": n, "t": round(t, 6), "image_size": size,
                                      "persons": [p.to_json() for p in found]}), flush=False)
                if args.annotate is not None:
                    writer = writer or _writer(args.annotate, fps, frame.shape[1], frame.shape[0])
                    writer.write(draw_persons(frame, found))
                ids.update(p.id for p in found)
                persons += len(found)
                n += 1
                bar.update()
    finally:
        cap.release()
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


def _writer(path: Path, fps: float, width: int, height: int) -> cv2.VideoWriter:
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    if not writer.isOpened():
        raise InputError(f"{path}: cannot write a video there (try a .mp4 path)")
    return writer


COMMANDS = {"detect": Command(configure, run)}
