"""Regenerate tests/data/mediapipe_reference.json: Google's own BlazePose pipeline on the demo video.

Runs `mp.solutions.pose` (mediapipe==0.10.21, model_complexity=1 = the "full" landmark model that
CameraPose ships) on the first frames of the demo video and stores, per frame, the 33 landmarks
in pixels (0.1 px) with their visibility. Smoothing is off (`smooth_landmarks=False`) so the
reference is the models' own output, which is what our parity test compares against.

mediapipe 0.10.21 pins numpy<2, so run this with a separate virtual environment:

    python3 -m venv /tmp/mpvenv
    /tmp/mpvenv/bin/pip install mediapipe==0.10.21 opencv-python-headless
    /tmp/mpvenv/bin/python scripts/mediapipe_reference.py [--video PATH] [--frames 60]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path

import cv2
import mediapipe as mp

log = logging.getLogger("mediapipe_reference")
ROOT = Path(__file__).resolve().parents[1]


def default_video() -> Path:
    cache = os.environ.get("CAMERAPOSE_CACHE") or Path.home() / ".cache" / "camerapose"
    return Path(cache).expanduser() / "demo.mp4"


def reference(video: Path, frames: int) -> dict:
    """Run MediaPipe Pose on the first `frames` frames; landmarks in pixels, None where no pose."""
    cap = cv2.VideoCapture(str(video))
    if not cap.isOpened():
        raise SystemExit(f"{video}: cannot open")
    width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
    height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    out = []
    with mp.solutions.pose.Pose(static_image_mode=False, model_complexity=1, smooth_landmarks=False,
                                enable_segmentation=False, min_detection_confidence=0.5,
                                min_tracking_confidence=0.5) as pose:
        for _ in range(frames):
            ok, frame = cap.read()
            if not ok:
                break
            res = pose.process(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
            if res.pose_landmarks is None:
                out.append(None)
                continue
            lms = res.pose_landmarks.landmark
            out.append({
                "xy": [[round(p.x * width, 1), round(p.y * height, 1)] for p in lms],
                "visibility": [round(p.visibility, 3) for p in lms],
            })
    cap.release()
    return {"source": "mediapipe==0.10.21 mp.solutions.pose, model_complexity=1, smooth_landmarks=False",
            "video": "demo.mp4 (sports2d==0.8.34)", "width": width, "height": height,
            "joint_format": "blazepose33", "frames": out}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=default_video(), help="demo video (default: cache)")
    parser.add_argument("--frames", type=int, default=60, help="number of frames (default 60)")
    parser.add_argument("--out", type=Path, default=ROOT / "tests" / "data" / "mediapipe_reference.json",
                        help="output JSON (default tests/data/mediapipe_reference.json)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname).1s %(name)s: %(message)s")
    ref = reference(args.video, args.frames)
    args.out.write_text(json.dumps(ref, separators=(",", ":")) + "\n")
    found = sum(f is not None for f in ref["frames"])
    log.info("%s: %d frames, a pose in %d", args.out, len(ref["frames"]), found)


if __name__ == "__main__":
    main()
