"""TRC (OpenSim, Pose2Sim): tab-separated marker positions, one marker per H36M joint.

Header as OpenSim writes it (PathFileType 4, DataRate, CameraRate, NumFrames, NumMarkers, Units mm,
OrigDataRate, OrigDataStartFrame, OrigNumFrames), then one row per frame of the track's range:
Frame# (the stream's frame number + 1), Time (the stream's frame number x the frame time, so tracks
of one video line up), X Y Z per marker in millimetres, y up. A frame where the person was not seen
keeps its row with `NaN` in every marker cell, OpenSim's missing marker.

What OpenSim's reader (TRCFileAdapter) holds a file to: the first word `PathFileType`; exactly the
eight header keys, in order, and eight non-empty values; `Frame#`, `Time` and NumMarkers names on the
names line (tab-separated, empty cells skipped, so no name may be empty or hold a tab); `X1 Y1 Z1 ...`
numbered from 1; every data row exactly 2 + 3 x NumMarkers non-empty cells (it drops trailing empty
cells, so an empty last marker is a short row: "Error reading rows"); no blank line inside the data
(one ends it); strictly increasing times.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from camerapose.core.shapes import check_shape
from camerapose.runtime.files.markers import DEFAULT_MARKERS, marker_set
from camerapose.runtime.files.tracks import JOINT_NAMES
from camerapose.runtime.files.writers import write_file

MISSING = "NaN"  # a marker not seen in a frame, as OpenSim writes and reads it


def trc_text(
    name: str,
    frames: np.ndarray,
    positions: np.ndarray,
    seen: np.ndarray,
    frame_time: float,
    markers: tuple[str, ...] = JOINT_NAMES,
) -> str:
    """The whole file: frames (F,) stream frame numbers, positions (F, M, 3) metres y up of the M
    `markers` (names), seen (F,)."""
    m = len(markers)
    check_shape("positions", positions, (len(frames), m, 3))
    rate = 1.0 / frame_time
    n = len(frames)
    lines = [
        f"PathFileType\t4\t(X/Y/Z)\t{name}",
        "DataRate\tCameraRate\tNumFrames\tNumMarkers\tUnits\tOrigDataRate\tOrigDataStartFrame\tOrigNumFrames",
        f"{rate:.6g}\t{rate:.6g}\t{n}\t{m}\tmm\t{rate:.6g}\t{int(frames[0]) + 1}\t{n}",
        "Frame#\tTime\t" + "\t\t\t".join(markers) + "\t\t",
        "\t\t" + "\t".join(f"X{i}\tY{i}\tZ{i}" for i in range(1, m + 1)),
        "",
    ]
    mm = positions * 1000.0
    missing = "\t".join([MISSING] * (3 * m))
    for f, row, ok in zip(frames, mm, seen, strict=True):
        cells = "\t".join(f"{v:.3f}" for v in row.ravel()) if ok else missing
        lines.append(f"{int(f) + 1}\t{f * frame_time:.6f}\t{cells}")
    return "\n".join(lines) + "\n"


def write_trc(
    path: Path,
    frames: np.ndarray,
    positions: np.ndarray,
    seen: np.ndarray,
    frame_time: float,
    markers: str = DEFAULT_MARKERS,
) -> None:
    """Write `trc_text` to path: positions (F, 17, 3) metres y up, the joints of marker set `markers`."""
    joints, names = marker_set(markers)
    text = trc_text(path.name, frames, positions[:, list(joints)], seen, frame_time, names)
    write_file(path, text)
