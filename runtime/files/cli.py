"""`camerapose convert INPUT --to FORMAT`: pose messages (a `.cprec` recording or `subscribe --json`
lines) to files that animation and biomechanics tools read, one file per track.

    camerapose convert run.cprec --to bvh --world --out anim/
    camerapose convert poses.jsonl --to trc --stream cam0 --fps 30
"""

from __future__ import annotations

import argparse
from pathlib import Path

from camerapose.cli import Command, number
from camerapose.runtime.files.convert import DEFAULT_FPS, FORMATS
from camerapose.runtime.files.markers import DEFAULT_MARKERS, MARKER_SETS


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", type=Path,
                        help="a recording (`camerapose record`, .cprec) or JSON lines of messages "
                             "(`camerapose subscribe --json`)")
    parser.add_argument("--to", dest="fmt", required=True, metavar="FORMAT",
                        help=f"output format: {', '.join(FORMATS)} (docs/files.md)")
    parser.add_argument("--out", type=Path, default=None, metavar="DIR",
                        help="folder for the files (default: the input's folder); one file per track, "
                             "named <input stem>_<stream>_id<id>.<format> (world ids: <stem>_world_id<id>)")
    parser.add_argument("--world", action="store_true",
                        help="world axes: an input with the world stream (`run --calibration`) gives one "
                             "file per world id in the calibration's world frame (BVH, TRC, C3D turned y "
                             "up); otherwise the floor is fitted under the feet of each camera stream and "
                             "the files are y-up metres with the floor at 0 (default: the camera's axes)")
    parser.add_argument("--stream", default=None, metavar="NAME", help="only this stream (default: all)")
    from camerapose.runtime.sources.base import FPS_RANGE

    parser.add_argument("--fps", type=number(*FPS_RANGE), default=None,
                        help="frame rate of BVH / TRC / C3D output, {:g} to {:g} (default: the source's "
                             "rate the messages carry; for older recordings without it, estimated from the "
                             "timestamps, else {:g})".format(*FPS_RANGE, DEFAULT_FPS))
    parser.add_argument("--markers", default=DEFAULT_MARKERS, choices=sorted(MARKER_SETS),
                        help="TRC / C3D marker names: h36m (ours, 17) or pose2sim (Pose2Sim's OpenSim "
                             "marker set, 16; docs/files.md, TRC)")


def run(args: argparse.Namespace) -> int:
    from camerapose.runtime.files.convert import convert

    convert(args.input, args.fmt.lower(), args.out, args.world, args.stream, args.fps, args.markers)
    return 0


COMMANDS = {"convert": Command(configure, run)}
