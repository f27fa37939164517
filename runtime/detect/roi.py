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


# The grid ROIs are snapped to. A tracked person's next crop comes from their last landmarks, and the
# landmark network's output moves with its crop, so a difference of 1e-4 px between two runtimes'
# kernels (LiteRT's XNNPACK and reference kernels, onnxruntime, TensorRT, or one CPU's SIMD and
# another's) compounds frame after frame into differences of a pixel. On this grid, both land on the
# same crop nearly always (on the demo: median 0.58 -> 0.00 px between LiteRT and onnxruntime); 1 px
# and 0.6 degrees are far below what moves the landmarks.
ROI_GRID_PX = 1.0
ROI_GRID_RAD = 0.01


def roi_from_alignment(center: np.ndarray, scale_point: np.ndarray, enlarge: float = 1.25) -> np.ndarray:
    """MediaPipe's pose ROI from two alignment points, in pixels.

    center (N, 2): the hip centre; scale_point (N, 2): the point above the head (its distance
    to the centre is the body circle's radius). The ROI is a square of side 2 * radius * enlarge
    centred on the hip centre, rotated so that the crop's up points at the scale point, snapped
    to the ROI grid (ROI_GRID_PX, ROI_GRID_RAD).
    -> (N, 5) float32 rois.
    """
    check_shape("center", center, ("N", 2))
    check_shape("scale_point", scale_point, (center.shape[0], 2))
    d = scale_point.astype(np.float64) - center
    side = 2.0 * np.hypot(d[:, 0], d[:, 1]) * enlarge
    rot = normalize_angle(np.round(np.arctan2(d[:, 0], -d[:, 1]) / ROI_GRID_RAD) * ROI_GRID_RAD)
    grid = np.round(np.column_stack([center, side, side]) / ROI_GRID_PX) * ROI_GRID_PX
    return np.column_stack([grid, rot]).astype(np.float32)


def crop_to_frame(rois: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Affine maps from crop pixels (size x size, or (width, height)) to frame pixels.
    (N, 5) -> (N, 2, 3) float64."""
    check_shape("rois", rois, ("N", 5))
    cw, ch = (size, size) if isinstance(size, int | np.integer) else size
    r = rois.astype(np.float64)
    cos, sin = np.cos(r[:, 4]), np.sin(r[:, 4])
    sx, sy = r[:, 2] / cw, r[:, 3] / ch
    a = np.empty((r.shape[0], 2, 3))
    a[:, 0, 0], a[:, 0, 1] = cos * sx, -sin * sy
    a[:, 1, 0], a[:, 1, 1] = sin * sx, cos * sy
    a[:, :, 2] = r[:, :2] - a[:, :, 0] * (cw / 2.0) - a[:, :, 1] * (ch / 2.0)
    return a


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


def square_tiles(width: int, height: int, min_overlap: float = 0.5) -> np.ndarray:
    """Squares with the frame's short side, spread evenly along its long side from end to end.

    Neighbours overlap by at least `min_overlap` of a side, so anything narrower than that lies
    whole inside one tile. A square frame is one tile. -> (n, 5) float64 ROIs, upright.
    """
    side, long = float(min(width, height)), float(max(width, height))
    n = 1 if long <= side else math.ceil((long - side) / (side * (1.0 - min_overlap)) - 1e-9) + 1
    along = np.linspace(side / 2, long - side / 2, n)
    across = np.full(n, side / 2)
    xy = np.column_stack([along, across] if width >= height else [across, along])
    return np.column_stack([xy, np.full((n, 2), side), np.zeros(n)])


def same_person(roi: np.ndarray, rois: np.ndarray, max_offset: float = 0.4) -> np.ndarray:
    """Which of `rois` (M, 5) frame the same person as `roi` (5,): centres closer than
    `max_offset` times the smaller side. -> (M,) bool.

    Sizes may disagree a lot (the SSD sees a person at a coarser scale than the landmark model, and
    its ROI is often ~1.5-2x the tracked one), so box IoU would call such a pair two people; the
    centre (the hip) is what both place well. At equal sizes this is about the old rule (box IoU
    > 0.4 is a centre offset < 0.43 of a side): someone new is picked up once ~0.4 of a side away
    (people side by side are ~0.2 apart; their tracked crops are kept either way).
    """
    check_shape("roi", roi, (5,))
    check_shape("rois", rois, ("M", 5))
    dist = np.hypot(rois[:, 0] - roi[0], rois[:, 1] - roi[1])
    return dist < max_offset * np.minimum(rois[:, 2], roi[2])


def distinct_persons(rois: np.ndarray, scores: np.ndarray, max_out: int, max_offset: float = 0.4,
                     ) -> np.ndarray:
    """Greedy by score: keep a ROI unless it frames the same person as a kept one (`same_person`).

    rois (N, 5), scores (N,). -> kept indices (M <= max_out,), best first.
    """
    check_shape("scores", scores, (rois.shape[0],))
    keep: list[int] = []
    for i in np.argsort(-scores, kind="stable"):
        if len(keep) >= max_out:
            break
        if keep and same_person(rois[i], rois[keep], max_offset).any():
            continue
        keep.append(int(i))
    return np.asarray(keep, np.int64)


def roi_corners(rois: np.ndarray) -> np.ndarray:
    """Corner points of each ROI in frame pixels, clockwise from top-left. (N, 5) -> (N, 4, 2)."""
    unit = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], np.float64)
    return apply_affine(crop_to_frame(rois, 1), np.broadcast_to(unit, (rois.shape[0], 4, 2)))


def roi_box(rois: np.ndarray) -> np.ndarray:
    """Axis-aligned bounding box of each rotated ROI. (N, 5) -> (N, 4) x0, y0, x1, y1."""
    c = roi_corners(rois)
    return np.concatenate([c.min(1), c.max(1)], -1).astype(np.float32)


DEG = math.pi / 180.0
