"""TRC (OpenSim, Pose2Sim): tab-separated marker positions, one marker per H36M joint.

Header as OpenSim writes it (PathFileType 4, DataRate, CameraRate, NumFrames, NumMarkers, Units mm,
OrigDataRate, OrigDataStartFrame, OrigNumFrames), then one row per frame of the track's range:
Frame# (the stream's frame number + 1), Time (the stream's frame number x the frame time, so tracks
of one video line up), X Y Z per marker in millimetres, y up. A frame where the person was not seen
keeps its row with empty cells, which OpenSim reads as a missing marker.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from camerapose.core.shapes import check_shape
from camerapose.core.skeleton import NUM_JOINTS
from camerapose.runtime.files.tracks import JOINT_NAMES
from camerapose.runtime.files.writers import write_file


def trc_text(
    name: str, frames: np.ndarray, positions: np.ndarray, seen: np.ndarray, frame_time: float
) -> str:
    """The whole file: frames (F,) stream frame numbers, positions (F, 17, 3) metres y up, seen (F,)."""
    check_shape("positions", positions, (len(frames), NUM_JOINTS, 3))
    rate = 1.0 / frame_time
    n = len(frames)
    lines = [
        f"PathFileType\t4\t(X/Y/Z)\t{name}",
        "DataRate\tCameraRate\tNumFrames\tNumMarkers\tUnits\tOrigDataRate\tOrigDataStartFrame\tOrigNumFrames",
        f"{rate:.6g}\t{rate:.6g}\t{n}\t{NUM_JOINTS}\tmm\t{rate:.6g}\t{int(frames[0]) + 1}\t{n}",
        "Frame#\tTime\t" + "\t\t\t".join(JOINT_NAMES) + "\t\t",
        "\t\t" + "\t".join(f"X{i}\tY{i}\tZ{i}" for i in range(1, NUM_JOINTS + 1)),
        "",
    ]
    mm = positions * 1000.0
    empty = "\t".join([""] * (3 * NUM_JOINTS))
    for f, row, ok in zip(frames, mm, seen, strict=True):
        cells = "\t".join(f"{v:.3f}" for v in row.ravel()) if ok else empty
        lines.append(f"{int(f) + 1}\t{f * frame_time:.6f}\t{cells}")
    return "\n".join(lines) + "\n"


def write_trc(
    path: Path, frames: np.ndarray, positions: np.ndarray, seen: np.ndarray, frame_time: float
) -> None:
    """Write `trc_text` to path (see there for the arrays)."""
    text = trc_text(path.name, frames, positions, seen, frame_time)
    write_file(path, text)
