"""The published 3D pose: the lifter's pose fused with the 2D detector's own 3D (pure numpy).

BlazePose's landmark network also outputs a metric 3D pose per person (its "world landmarks",
learned from real images), and it errs differently from the lifter, which sees only 17 2D points:
on real calibrated footage a per-joint, per-axis blend of the two beats either alone (measured by
`camerapose eval ... --set 'data.test=["real"]'`, docs/training.md). The blend keeps the lifter's
size (the detector's pose is scaled to it first), so metric placement and bone lengths stay ours:

    fused = lifter + W * (s * detector - lifter),   s = lifter's size / detector's size

W (17, 3) is the detector's weight per joint and camera axis (x right, y down, z depth); the
shipped one (`DETECTOR_3D_WEIGHTS`) has one weight for the image plane and one for depth, fitted on
the real set (`fit_weights`, cross-validated over its cameras).
"""

from __future__ import annotations

import numpy as np

from .metrics import p_mpjpe
from .shapes import check_shape
from .skeleton import NUM_JOINTS, Joint, bone_lengths

J = NUM_JOINTS
FUSIONS = ("detector-3d", "off")
# The joints both estimates define alike. The detector's Neck/Nose and Head are its nose and the
# midpoint of its eyes (`core.skeleton`), the lifter's (trained on motion capture) H36M's neck and
# head top: other points, so they are never blended (and the real set does not score them).
SHARED_JOINTS = np.array([j for j in range(J) if j not in (Joint.NECK, Joint.HEAD)])


def pose_size(pose: np.ndarray) -> np.ndarray:
    """Sum of bone lengths (metres), a size measure that ignores where the root is. (..., 17, 3) -> (...)."""
    return bone_lengths(pose).sum(-1)


def scaled_to(pose: np.ndarray, like: np.ndarray) -> np.ndarray:
    """Root-relative `pose` scaled to the size of root-relative `like`. (..., 17, 3) x2 -> (..., 17, 3)."""
    s = pose_size(like) / np.maximum(pose_size(pose), 1e-9)
    return pose * s[..., None, None]


def fuse(lifter: np.ndarray, detector: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Blend root-relative poses (..., 17, 3), metres, camera axes, with the detector's per joint and
    axis weights (17, 3) in [0, 1] -> (..., 17, 3), pelvis at 0, the lifter's size."""
    check_shape("fusion weights", weights, (J, 3))
    lifter = lifter - lifter[..., :1, :]
    detector = scaled_to(detector - detector[..., :1, :], lifter)
    out = lifter + weights * (detector - lifter)
    return out - out[..., :1, :]


GRID = np.linspace(0.0, 1.0, 21)
KINDS = ("one", "plane+depth", "per-joint-axis")


def fit_weights(lifter: np.ndarray, detector: np.ndarray, truth: np.ndarray, kind: str = "plane+depth",
                grid: np.ndarray = GRID) -> np.ndarray:
    """The detector weights that give the lowest P-MPJPE on the samples, over the SHARED_JOINTS
    (the others get 0). (N, 17, 3) x3 root-relative -> (17, 3).

    kind "one": one weight for every axis; "plane+depth": one for the image-plane axes (x, y), one
    for depth (z), searched on a grid; "per-joint-axis": from that, each joint's x, y and z weight
    in turn (coordinate descent, two sweeps). P-MPJPE is what is minimised, not the camera-frame
    squared error (which least squares would fit): it is the error a user sees in the skeleton's
    shape, and the two disagree when the estimates' orientations differ.
    """
    if kind not in KINDS:
        raise ValueError(f"fusion fit: kind must be one of {KINDS}, got {kind!r}")

    def error(w: np.ndarray) -> float:
        return p_mpjpe(fuse(lifter, detector, w)[:, SHARED_JOINTS], truth[:, SHARED_JOINTS])

    pairs = [(g, g) for g in grid] if kind == "one" else [(p, d) for p in grid for d in grid]
    best = min((_weights(p, d) for p, d in pairs), key=error)
    if kind != "per-joint-axis":
        return best
    for _ in range(2):
        for j in SHARED_JOINTS[1:]:  # the pelvis is the origin of both
            for axis in range(3):
                trial = np.repeat(best[None], len(grid), 0)
                trial[:, j, axis] = grid
                best = min(trial, key=error)
    return best


def _weights(plane: float, depth: float) -> np.ndarray:
    """(17, 3): `plane` on x and y, `depth` on z, for the shared joints but the pelvis (the origin of
    both estimates); 0 elsewhere."""
    w = np.zeros((J, 3))
    w[SHARED_JOINTS] = [plane, plane, depth]
    w[Joint.PELVIS] = 0.0
    return w


# Fitted on the `real` set (all four cameras) by `fit_weights`: the detector's weight on the image
# plane (x, y) and on depth (z). Refit: `camerapose eval CHECKPOINT --set 'data.test=["real"]'
# --fit-fusion` (the cross-validated rows of that table are what to trust).
DETECTOR_3D_WEIGHTS = _weights(0.4, 0.3)
