"""C3D (biomechanics), through the `ezc3d` library (the optional `files` extra).

17 points named after the H36M joints (or another marker set: runtime/files/markers.py), millimetres,
y up; one frame per frame of the track's range, POINT:RATE from the track and the header's first
frame = the stream's frame number of the first.
Frames where the person was not seen hold the linear interpolation of its neighbours and a residual
of -1, which marks a point invalid in C3D, so readers show a gap (ezc3d reads such points as NaN).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from camerapose.core.errors import InputError
from camerapose.core.shapes import check_shape
from camerapose.core.skeleton import NUM_JOINTS
from camerapose.runtime.files.markers import DEFAULT_MARKERS, marker_set


def require_ezc3d() -> None:
    """One InputError line when the optional ezc3d library is missing."""
    try:
        import ezc3d  # noqa: F401
    except ImportError:
        raise InputError("C3D output needs ezc3d: pip install 'camerapose[files]' (or: pip install ezc3d)") \
            from None


def write_c3d(
    path: Path,
    first_frame: int,
    positions: np.ndarray,
    seen: np.ndarray,
    frame_time: float,
    markers: str = DEFAULT_MARKERS,
) -> None:
    """positions (F, 17, 3) metres y up, gaps already filled; seen (F,) bool; the points are the
    joints of marker set `markers` (runtime/files/markers.py)."""
    require_ezc3d()
    import ezc3d

    check_shape("positions", positions, (len(seen), NUM_JOINTS, 3))
    joints, names = marker_set(markers)
    positions = positions[:, list(joints)]
    m, n = len(joints), len(seen)
    c3d = ezc3d.c3d()
    c3d["parameters"]["POINT"]["RATE"]["value"] = np.array([1.0 / frame_time])
    c3d["parameters"]["POINT"]["LABELS"]["value"] = list(names)
    c3d["parameters"]["POINT"]["UNITS"]["value"] = ["mm"]
    c3d["header"]["points"]["first_frame"] = int(first_frame)
    points = np.ones((4, m, n))
    points[:3] = (positions * 1000.0).transpose(2, 1, 0)
    residuals = np.where(seen, 0.0, -1.0)[None, None, :].repeat(m, axis=1)
    c3d["data"]["points"] = points
    c3d["data"]["meta_points"]["residuals"] = residuals
    c3d["data"]["meta_points"]["camera_masks"] = np.zeros((7, m, n), bool)
    if not path.parent.is_dir():
        raise InputError(f"{path}: folder {path.parent} does not exist")
    try:
        c3d.write(str(path))
    except (OSError, RuntimeError) as err:
        raise InputError(f"{path}: cannot write ({err})") from None
