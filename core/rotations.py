"""Rotation matrices, the one home of their formulas (pure numpy).

A rotation is a (..., 3, 3) matrix acting on column vectors, right-handed; angles are radians.
Built here: about one coordinate axis (`elemental`), about any unit axis (`axis_angle`, Rodrigues'
formula; `rotation_vector` for OpenCV's rvec), from a unit quaternion (`quaternion_to_matrix`), and
the cross-product matrix they share (`skew`). Composition orders (Euler conventions, BVH channels,
a camera's pitch and roll) stay with their callers: they are conventions, not formulas.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .shapes import check_shape

AXES = "xyz"


def skew(v: np.ndarray) -> np.ndarray:
    """The cross-product matrix: (..., 3) -> (..., 3, 3) with skew(v) @ w == cross(v, w)."""
    check_shape("v", v, (..., 3))
    x, y, z = v[..., 0], v[..., 1], v[..., 2]
    o = np.zeros_like(x)
    return np.stack([np.stack([o, -z, y], -1), np.stack([z, o, -x], -1), np.stack([-y, x, o], -1)], -2)


def elemental(axis: Any, angle: Any) -> np.ndarray:
    """Rotation about the x, y or z axis ("x" / 0, "y" / 1, "z" / 2, any case) by angle (...)
    radians -> (..., 3, 3), cos and sin placed exactly (no 1 - (1 - cos) rounding)."""
    a = AXES.index(axis.lower()) if isinstance(axis, str) else int(axis)
    angle = np.asarray(angle, dtype=np.float64)
    c, s = np.cos(angle), np.sin(angle)
    out = np.zeros((*angle.shape, 3, 3))
    i, j = [(1, 2), (2, 0), (0, 1)][a]
    out[..., a, a] = 1.0
    out[..., i, i], out[..., i, j], out[..., j, i], out[..., j, j] = c, -s, s, c
    return out


def axis_angle(axis: np.ndarray, angle: Any) -> np.ndarray:
    """Rodrigues: rotation by angle (...) radians about the unit axis (..., 3) -> (..., 3, 3)."""
    k = skew(np.asarray(axis, dtype=np.float64))
    angle = np.asarray(angle, dtype=np.float64)
    s, c = np.sin(angle)[..., None, None], np.cos(angle)[..., None, None]
    return np.eye(3) + s * k + (1 - c) * (k @ k)


def rotation_vector(rvec: np.ndarray) -> np.ndarray:
    """OpenCV's rotation vector (axis x angle, radians) -> (3, 3), as cv2.Rodrigues gives."""
    r = np.asarray(rvec, dtype=np.float64).reshape(3)
    angle = float(np.linalg.norm(r))
    return np.eye(3) if angle < 1e-12 else axis_angle(r / angle, angle)


def quaternion_to_matrix(q: np.ndarray) -> np.ndarray:
    """Quaternions (w, x, y, z), normalised here -> rotation matrices. (..., 4) -> (..., 3, 3)."""
    check_shape("q", q, (..., 4))
    q = np.asarray(q, dtype=np.float64)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = (q[..., i] for i in range(4))
    rows = [
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ]
    return np.stack([np.stack(r, -1) for r in rows], -2)
