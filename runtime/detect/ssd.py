"""SSD anchors, box/keypoint decoding and weighted non-max suppression (pure numpy).

The numbers are those of MediaPipe's pose detector (`pose_detection.tflite`, 224x224 input):
5 layers with strides 8, 16, 32, 32, 32, two anchors per cell per layer (aspect ratio 1 plus
the interpolated scale), fixed anchor size -> 28*28*2 + 14*14*2 + 7*7*6 = 2254 anchors; each
anchor regresses 12 numbers: box (x, y, w, h) and 4 keypoints (x, y), in input pixels.
All coordinates here are normalised to the detector input ([0, 1] over its width and height).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from camerapose.core.shapes import check_shape


@dataclass(frozen=True)
class AnchorConfig:
    """SSD anchor layout (MediaPipe's SsdAnchorsCalculator options)."""

    input_size: tuple[int, int] = (224, 224)  # (height, width)
    strides: tuple[int, ...] = (8, 16, 32, 32, 32)
    min_scale: float = 0.1484375
    max_scale: float = 0.75
    anchor_offset: float = 0.5
    aspect_ratios: tuple[float, ...] = (1.0,)
    interpolated_scale_aspect_ratio: float = 1.0
    fixed_anchor_size: bool = True


def _scale(cfg: AnchorConfig, layer: int) -> float:
    n = len(cfg.strides)
    if n == 1:
        return (cfg.min_scale + cfg.max_scale) / 2
    return cfg.min_scale + (cfg.max_scale - cfg.min_scale) * layer / (n - 1)


def generate_anchors(cfg: AnchorConfig = AnchorConfig()) -> np.ndarray:
    """Anchors in MediaPipe's order. -> (N, 4) float32 rows (x_center, y_center, w, h), normalised.

    Layers that share a stride share one feature map; each contributes one anchor per aspect
    ratio plus one at the interpolated scale, for every cell, cell by cell.
    """
    rows: list[np.ndarray] = []
    n = len(cfg.strides)
    layer = 0
    while layer < n:
        sizes: list[tuple[float, float]] = []  # (w, h) of each anchor at a cell
        last = layer
        while last < n and cfg.strides[last] == cfg.strides[layer]:
            s = _scale(cfg, last)
            for ar in cfg.aspect_ratios:
                sizes.append((s * math.sqrt(ar), s / math.sqrt(ar)))
            if cfg.interpolated_scale_aspect_ratio > 0:
                s_next = 1.0 if last == n - 1 else _scale(cfg, last + 1)
                si, ar = math.sqrt(s * s_next), cfg.interpolated_scale_aspect_ratio
                sizes.append((si * math.sqrt(ar), si / math.sqrt(ar)))
            last += 1
        stride = cfg.strides[layer]
        fh, fw = math.ceil(cfg.input_size[0] / stride), math.ceil(cfg.input_size[1] / stride)
        ys, xs = np.meshgrid((np.arange(fh) + cfg.anchor_offset) / fh,
                             (np.arange(fw) + cfg.anchor_offset) / fw, indexing="ij")
        wh = np.ones((len(sizes), 2)) if cfg.fixed_anchor_size else np.array(sizes)
        grid = np.stack([xs, ys], -1).reshape(-1, 1, 2)  # (cells, 1, 2)
        cell_anchors = np.concatenate(
            [np.broadcast_to(grid, (grid.shape[0], len(sizes), 2)),
             np.broadcast_to(wh, (grid.shape[0], len(sizes), 2))], -1)
        rows.append(cell_anchors.reshape(-1, 4))
        layer = last
    return np.concatenate(rows).astype(np.float32)


def decode(raw: np.ndarray, anchors: np.ndarray, num_keypoints: int = 4,
           scale: tuple[float, float] = (224.0, 224.0)) -> tuple[np.ndarray, np.ndarray]:
    """Raw regressions -> boxes and keypoints, normalised.

    raw (N, 4 + 2K) offsets in input pixels (x, y, w, h, kx0, ky0, ...); anchors (N, 4);
    scale = (x_scale, y_scale), the input size the offsets are expressed in.
    Returns boxes (N, 4) as x0, y0, x1, y1 and keypoints (N, K, 2).
    """
    check_shape("raw", raw, ("N", 4 + 2 * num_keypoints))
    check_shape("anchors", anchors, (raw.shape[0], 4))
    sxy = np.array(scale, dtype=np.float32)
    axy, awh = anchors[:, None, :2], anchors[:, None, 2:]
    center = raw[:, None, 0:2] / sxy * awh + axy
    wh = raw[:, None, 2:4] / sxy * awh
    boxes = np.concatenate([center - wh / 2, center + wh / 2], -1)[:, 0]
    kps = raw[:, 4:].reshape(-1, num_keypoints, 2) / sxy * awh + axy
    return boxes.astype(np.float32), kps.astype(np.float32)


def sigmoid_scores(logits: np.ndarray, clip: float = 100.0) -> np.ndarray:
    """Score logits (N,) or (N, 1) -> probabilities (N,), clipped like MediaPipe to avoid overflow."""
    z = np.clip(np.asarray(logits, dtype=np.float64).reshape(-1), -clip, clip)
    return (1.0 / (1.0 + np.exp(-z))).astype(np.float32)


def iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Intersection over union of one box (4,) with many (M, 4), all x0, y0, x1, y1. -> (M,)."""
    return overlaps(box, boxes)[0]


def overlaps(box: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """How one box (4,) overlaps many (M, 4), all x0, y0, x1, y1. -> (M,) intersection over union,
    (M,) intersection over the smaller of the two areas (1: one box inside the other)."""
    check_shape("box", box, (4,))
    check_shape("boxes", boxes, ("M", 4))
    lt = np.maximum(box[:2], boxes[:, :2])
    rb = np.minimum(box[2:], boxes[:, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), -1)
    area = np.prod(np.clip(box[2:] - box[:2], 0, None))
    areas = np.prod(np.clip(boxes[:, 2:] - boxes[:, :2], 0, None), -1)
    union = area + areas - inter
    smaller = np.minimum(areas, area)
    return (np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0),
            np.where(smaller > 0, inter / np.maximum(smaller, 1e-12), 0.0))


def weighted_nms(boxes: np.ndarray, scores: np.ndarray, keypoints: np.ndarray,
                 iou_threshold: float = 0.3, max_out: int | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MediaPipe's weighted NMS: each cluster of overlapping boxes becomes its score-weighted mean.

    boxes (N, 4), scores (N,), keypoints (N, K, 2). The best remaining box and every box with
    IoU > iou_threshold to it form a cluster; the output box and keypoints are the cluster's
    score-weighted averages, its score the best one. -> boxes (M, 4), scores (M,), kps (M, K, 2),
    by descending score.
    """
    check_shape("boxes", boxes, ("N", 4))
    check_shape("scores", scores, (boxes.shape[0],))
    check_shape("keypoints", keypoints, (boxes.shape[0], "K", 2))
    order = np.argsort(-scores, kind="stable")
    remaining = order
    out_b, out_s, out_k = [], [], []
    while remaining.size and (max_out is None or len(out_b) < max_out):
        best = remaining[0]
        overlap = iou(boxes[best], boxes[remaining]) > iou_threshold
        overlap[0] = True
        cluster = remaining[overlap]
        w = scores[cluster][:, None]
        out_b.append((boxes[cluster] * w).sum(0) / w.sum())
        out_k.append((keypoints[cluster] * w[:, :, None]).sum(0) / w.sum())
        out_s.append(scores[best])
        remaining = remaining[~overlap]
    k = keypoints.shape[1]
    if not out_b:
        return np.zeros((0, 4), np.float32), np.zeros((0,), np.float32), np.zeros((0, k, 2), np.float32)
    return (np.asarray(out_b, np.float32), np.asarray(out_s, np.float32), np.asarray(out_k, np.float32))


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float = 0.45,
        max_out: int | None = None) -> np.ndarray:
    """Plain greedy NMS. boxes (N, 4) x0, y0, x1, y1; scores (N,). -> kept indices, best first."""
    check_shape("boxes", boxes, ("N", 4))
    check_shape("scores", scores, (boxes.shape[0],))
    remaining = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while remaining.size and (max_out is None or len(keep) < max_out):
        best = remaining[0]
        keep.append(int(best))
        remaining = remaining[1:][iou(boxes[best], boxes[remaining[1:]]) <= iou_threshold]
    return np.asarray(keep, np.int64)
