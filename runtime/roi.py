"""Rotated regions of interest, the batched affine warp into model crops, and its inverse (pure).

A ROI is a row (x_center, y_center, width, height, rotation) in frame pixels and radians. Its
crop axes are u = (cos r, sin r) (crop +x) and v = (-sin r, cos r) (crop +y, downwards), so
r = 0 is an upright crop and the person's "up" (crop -y) points along (sin r, -cos r).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from camerapose.core.shapes import check_shape


def normalize_angle(a: np.ndarray) -> np.ndarray:
    """Wrap angles into [-pi, pi)."""
    return (np.asarray(a) + np.pi) % (2 * np.pi) - np.pi


def roi_from_alignment(center: np.ndarray, scale_point: np.ndarray, enlarge: float = 1.25) -> np.ndarray:
    """MediaPipe's pose ROI from two alignment points, in pixels.

    center (N, 2): the hip centre; scale_point (N, 2): the point above the head (its distance
    to the centre is the body circle's radius). The ROI is a square of side 2 * radius * enlarge
    centred on the hip centre, rotated so that the crop's up points at the scale point.
    -> (N, 5) float32 rois.
    """
    check_shape("center", center, ("N", 2))
    check_shape("scale_point", scale_point, (center.shape[0], 2))
    d = scale_point.astype(np.float64) - center
    side = 2.0 * np.hypot(d[:, 0], d[:, 1]) * enlarge
    rot = normalize_angle(np.arctan2(d[:, 0], -d[:, 1]))
    return np.column_stack([center, side, side, rot]).astype(np.float32)


def crop_to_frame(rois: np.ndarray, size: int) -> np.ndarray:
    """Affine maps from crop pixels (size x size) to frame pixels. (N, 5) -> (N, 2, 3) float64."""
    check_shape("rois", rois, ("N", 5))
    r = rois.astype(np.float64)
    cos, sin = np.cos(r[:, 4]), np.sin(r[:, 4])
    sx, sy = r[:, 2] / size, r[:, 3] / size
    a = np.empty((r.shape[0], 2, 3))
    a[:, 0, 0], a[:, 0, 1] = cos * sx, -sin * sy
    a[:, 1, 0], a[:, 1, 1] = sin * sx, cos * sy
    half = size / 2.0
    a[:, :, 2] = r[:, :2] - a[:, :, 0] * half - a[:, :, 1] * half
    return a


def invert_affine(m: np.ndarray) -> np.ndarray:
    """Inverse of 2x3 affine maps. (N, 2, 3) -> (N, 2, 3)."""
    check_shape("m", m, ("N", 2, 3))
    lin = np.linalg.inv(m[:, :, :2])
    return np.concatenate([lin, -lin @ m[:, :, 2:]], -1)


def apply_affine(m: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Map points through affine maps: m (N, 2, 3), points (N, K, 2) -> (N, K, 2)."""
    check_shape("m", m, ("N", 2, 3))
    check_shape("points", points, (m.shape[0], "K", 2))
    return np.einsum("nij,nkj->nki", m[:, :, :2], points) + m[:, None, :, 2]


def warp_crops(frame: np.ndarray, to_frame: np.ndarray, size: int, out: np.ndarray | None = None,
               ) -> np.ndarray:
    """Sample every ROI's crop from one frame (bilinear, zero border).

    frame (H, W, C) any dtype; to_frame (N, 2, 3) crop -> frame maps. -> (N, size, size, C) of the
    frame's dtype, written into `out` when given (so crops of several frames share one batch).
    """
    check_shape("to_frame", to_frame, ("N", 2, 3))
    n = to_frame.shape[0]
    if out is None:
        out = np.empty((n, size, size, frame.shape[2]), frame.dtype)
    for i in range(n):
        cv2.warpAffine(frame, to_frame[i], (size, size), dst=out[i],
                       flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                       borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return out


def letterbox(width: int, height: int, size: int) -> np.ndarray:
    """The crop -> frame map of a letterbox: the whole frame fitted, centred, into size x size.

    -> (2, 3) float64, for `warp_crops` (the ROI is the frame's centre, side max(W, H)).
    """
    side = float(max(width, height))
    roi = np.array([[width / 2.0, height / 2.0, side, side, 0.0]])
    return crop_to_frame(roi, size)[0]


def roi_corners(rois: np.ndarray) -> np.ndarray:
    """Corner points of each ROI in frame pixels, clockwise from top-left. (N, 5) -> (N, 4, 2)."""
    unit = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], np.float64)
    return apply_affine(crop_to_frame(rois, 1), np.broadcast_to(unit, (rois.shape[0], 4, 2)))


def roi_box(rois: np.ndarray) -> np.ndarray:
    """Axis-aligned bounding box of each rotated ROI. (N, 5) -> (N, 4) x0, y0, x1, y1."""
    c = roi_corners(rois)
    return np.concatenate([c.min(1), c.max(1)], -1).astype(np.float32)


DEG = math.pi / 180.0
