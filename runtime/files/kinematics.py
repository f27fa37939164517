"""Rotations from joint positions, for the BVH writer: pure numpy, no file format here.

A rotation is a (..., 3, 3) matrix acting on column vectors. Euler angles are intrinsic, in
degrees, in the order of their letters ("ZXY" = R_z(a) @ R_x(b) @ R_y(c)), as BVH channels are.
"""

from __future__ import annotations

import numpy as np

from camerapose.core.rotations import axis_angle, elemental, skew
from camerapose.core.skeleton import NUM_JOINTS, bone_lengths

EPS = 1e-9


def unit(v: np.ndarray) -> np.ndarray:
    """v (..., 3) scaled to length 1; a zero vector stays zero."""
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.where(n > EPS, n, 1.0)


def median_bone_lengths(kp3d: np.ndarray) -> np.ndarray:
    """The track's bone lengths: (T, 17, 3) metres -> (16,) medians over the frames (NaN frames skipped)."""
    assert kp3d.ndim == 3 and kp3d.shape[1:] == (NUM_JOINTS, 3), kp3d.shape
    return np.nanmedian(bone_lengths(kp3d), axis=0)


def swing(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The least rotation taking unit a (..., 3) to unit b (..., 3): (..., 3, 3).

    Opposite vectors have no unique least rotation: any half-turn about an axis perpendicular to a
    does; this picks one (callers that care pass a reference, see `aim`)."""
    a, b = np.broadcast_arrays(a, b)
    axis = np.cross(a, b)
    sin = np.linalg.norm(axis, axis=-1)
    cos = np.sum(a * b, axis=-1)
    # For (near-)opposite vectors use any perpendicular: the cross with the least-aligned basis axis.
    other = np.eye(3)[np.argmin(np.abs(a), axis=-1)]
    fallback = np.cross(a, other)
    axis = np.where((sin > 1e-7)[..., None], axis, fallback)
    return axis_angle(unit(axis), np.arctan2(sin, cos))


def aim(a: np.ndarray, b: np.ndarray, ref: np.ndarray | None = None) -> np.ndarray:
    """The rotation taking unit a (..., 3) to unit b (..., 3) that is closest to `ref` (..., 3, 3).

    Rotations taking a to b differ only by a twist about a; this picks the twist that best agrees
    with `ref` (closest in the Frobenius sense). Without `ref` (identity) this is `swing(a, b)`.
    """
    s = swing(a, b)
    if ref is None:
        return s
    # R(t) = S @ Rot_a(t); trace(ref^T R(t)) = cos t (tr M - a.M.a) + sin t tr(M [a]x) + a.M.a
    # with M = ref^T S, so the best t is atan2 of the two coefficients.
    m = np.swapaxes(ref, -1, -2) @ s
    ama = np.einsum("...i,...ij,...j->...", a, m, a)
    tr = np.trace(m, axis1=-2, axis2=-1)
    t = np.arctan2(np.trace(m @ skew(a), axis1=-2, axis2=-1), tr - ama)
    return s @ axis_angle(np.broadcast_to(a, s.shape[:-1]), t)


def frame_from_axes(y: np.ndarray, x_hint: np.ndarray) -> np.ndarray:
    """A body frame: columns x, y, z with y along `y` (..., 3) and x as close to `x_hint` (..., 3) as
    stays perpendicular to y; z = x cross y. -> (..., 3, 3). The rest pose's frame is the identity."""
    y = unit(y)
    x = unit(x_hint - np.sum(x_hint * y, -1, keepdims=True) * y)
    return np.stack([x, y, np.cross(x, y)], axis=-1)


def matrix_from_euler(degrees: np.ndarray, order: str) -> np.ndarray:
    """Intrinsic Euler angles (..., 3) in the order's letters, degrees -> (..., 3, 3)."""
    r = np.radians(degrees)
    return elemental(order[0], r[..., 0]) @ elemental(order[1], r[..., 1]) @ elemental(order[2], r[..., 2])


def euler_from_matrix(rot: np.ndarray, order: str) -> np.ndarray:
    """(..., 3, 3) -> intrinsic Euler angles (..., 3) in degrees, for order "ZXY" or "ZYX".

    The middle angle is in [-90, 90]; at exactly +-90 (gimbal lock) the last angle is set to 0 and
    the first carries the whole turn, so `matrix_from_euler` gives `rot` back in every case."""
    r = rot
    if order == "ZXY":  # R = Rz(a) Rx(b) Ry(c): R21 = sin b, R01 = -sin a cos b, R20 = -cos b sin c
        mid = np.arcsin(np.clip(r[..., 2, 1], -1, 1))
        first = np.arctan2(-r[..., 0, 1], r[..., 1, 1])
        last = np.arctan2(-r[..., 2, 0], r[..., 2, 2])
        locked_first = np.arctan2(r[..., 1, 0], r[..., 0, 0])
    elif order == "ZYX":  # R = Rz(a) Ry(b) Rx(c): R20 = -sin b, R10 = sin a cos b, R21 = cos b sin c
        mid = np.arcsin(np.clip(-r[..., 2, 0], -1, 1))
        first = np.arctan2(r[..., 1, 0], r[..., 0, 0])
        last = np.arctan2(r[..., 2, 1], r[..., 2, 2])
        locked_first = np.arctan2(-r[..., 0, 1], r[..., 1, 1])
    else:
        raise ValueError(f"unsupported Euler order {order!r}")
    locked = np.cos(mid) < 1e-6
    first = np.where(locked, locked_first, first)
    last = np.where(locked, 0.0, last)
    return np.degrees(np.stack([first, mid, last], axis=-1))


def unwrap_degrees(angles: np.ndarray) -> np.ndarray:
    """(T, ...) angles in degrees made continuous along frames (no 359 -> -359 jumps)."""
    return np.degrees(np.unwrap(np.radians(angles), axis=0))
