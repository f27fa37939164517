"""What tells one person from another when their motion cannot: clothing colours and body proportions.

The tracker follows people by where they are going; when one is lost (out of view, behind someone,
upside down in the sun) and a person appears again, these descriptors say whether it is them:

    app = appearance(frame, kp2d, conf)         # (64,) hue/saturation histograms, or None
    body = proportions(kp2d, det3d)              # (8,) bone-length shares, or None
    appearance_similarity(a, b), proportion_similarity(a, b)   # in [0, 1]

Hue and saturation, not brightness: glare and shade change how bright a shirt is far more than its
colour. Proportions come from the detector's metric 3D pose when it has one (BlazePose's world
landmarks: the same body gives the same lengths from any view), else from the 2D keypoints (which a
turn of the body foreshortens, so they count for less: `proportion_similarity`'s tolerance).
"""

from __future__ import annotations

import cv2
import numpy as np

from camerapose.core.skeleton import Joint, bone_lengths

HUE_BINS, SAT_BINS = 8, 4
APPEARANCE_SIZE = 2 * HUE_BINS * SAT_BINS  # torso then legs
_TORSO = (Joint.LSHOULDER, Joint.RSHOULDER, Joint.RHIP, Joint.LHIP)
_LEGS = ((Joint.LHIP, Joint.LKNEE), (Joint.LKNEE, Joint.LFOOT), (Joint.RHIP, Joint.RKNEE),
         (Joint.RKNEE, Joint.RFOOT))
_MIN_PIXELS = 24  # a region smaller than this (after downscaling) says nothing about colours
_WORK_HEIGHT = 96  # person crops are scaled to this height: colours need no detail

# Bone groups whose lengths make a body's proportions, as (indices into skeleton.BONES) averaged
# over left and right: hip width, thigh, shin, spine (pelvis-thorax), neck+head, shoulder width,
# upper arm, forearm.
_GROUPS: tuple[tuple[int, ...], ...] = ((0, 3), (1, 4), (2, 5), (6, 7), (8, 9), (10, 13), (11, 14), (12, 15))
PROPORTIONS_SIZE = len(_GROUPS)


def appearance(frame: np.ndarray, kp2d: np.ndarray, conf: np.ndarray, min_conf: float = 0.5
               ) -> np.ndarray | None:
    """Colour histograms of a person's torso and legs. frame (H, W, 3) uint8 BGR, kp2d (17, 2) px,
    conf (17,). -> (64,) float32: torso then legs, each summing to 1, or all 0 where that part is
    not seen well enough (a joint of it below min_conf, or too few pixels in the frame); None
    when neither is (two people overlapping hide a part, rarely both)."""
    parts = [_part_mask(kp2d, conf, min_conf, part) for part in ("torso", "legs")]
    seen = [p for p in parts if p is not None]
    if not seen:
        return None
    h, w = frame.shape[:2]
    corner = np.floor(np.min([p.min(0) for p in seen], 0)).astype(int)
    far = np.ceil(np.max([p.max(0) for p in seen], 0)).astype(int)
    x0, y0 = max(int(corner[0]), 0), max(int(corner[1]), 0)
    x1, y1 = min(int(far[0]) + 1, w), min(int(far[1]) + 1, h)
    if x1 - x0 < 4 or y1 - y0 < 8:
        return None
    scale = min(1.0, _WORK_HEIGHT / (y1 - y0))
    crop = frame[y0:y1, x0:x1]
    if scale < 1.0:
        crop = cv2.resize(crop, (max(int((x1 - x0) * scale), 1), max(int((y1 - y0) * scale), 1)),
                          interpolation=cv2.INTER_AREA)
    hsv = cv2.cvtColor(crop, cv2.COLOR_BGR2HSV)
    pts = (kp2d - [x0, y0]) * scale
    masks = [np.zeros(crop.shape[:2], np.uint8), np.zeros(crop.shape[:2], np.uint8)]
    if parts[0] is not None:
        cv2.fillConvexPoly(masks[0], np.round(pts[list(_TORSO)]).astype(np.int32), 255)
    if parts[1] is not None:
        thick = max(round(float(0.25 * np.linalg.norm(pts[Joint.LHIP] - pts[Joint.RHIP])) + 2), 2)
        for a, b in _LEGS:
            cv2.line(masks[1], tuple(np.round(pts[a]).astype(int)), tuple(np.round(pts[b]).astype(int)), 255,
                     thick)
        masks[1][masks[0] > 0] = 0
    out = np.zeros(APPEARANCE_SIZE, np.float32)
    half = HUE_BINS * SAT_BINS
    for k, mask in enumerate(masks):
        if int((mask > 0).sum()) < _MIN_PIXELS:
            continue
        hist = cv2.calcHist([hsv], [0, 1], mask, [HUE_BINS, SAT_BINS], [0, 180, 0, 256]).ravel()
        out[k * half:(k + 1) * half] = hist / max(float(hist.sum()), 1e-9)
    return out if out.any() else None


def _part_mask(kp2d: np.ndarray, conf: np.ndarray, min_conf: float, part: str) -> np.ndarray | None:
    """The keypoints (K, 2) that outline a part ("torso" or "legs"), or None when one is not seen."""
    joints = list(_TORSO) if part == "torso" else sorted({j for pair in _LEGS for j in pair})
    if (conf[joints] < min_conf).any() or not np.isfinite(kp2d[joints]).all():
        return None
    return kp2d[joints]


def appearance_similarity(a: np.ndarray, b: np.ndarray) -> float | None:
    """Bhattacharyya coefficient of two `appearance` descriptors, averaged over the parts both have:
    1 for the same colours, 0 for colours that share no bin; None when they share no part."""
    half = HUE_BINS * SAT_BINS
    bc = [float(np.sqrt(np.clip(a[s], 0, None) * np.clip(b[s], 0, None)).sum())
          for s in (slice(0, half), slice(half, None)) if a[s].any() and b[s].any()]
    return float(np.clip(np.mean(bc), 0.0, 1.0)) if bc else None


def merge_appearance(old: np.ndarray | None, new: np.ndarray | None, weight: float) -> np.ndarray | None:
    """A running appearance: each part of old moved towards new's by weight, where new has it
    (a part new lacks is kept; one old lacks is taken)."""
    if new is None:
        return old
    if old is None:
        return new.copy()
    out = old.copy()
    half = HUE_BINS * SAT_BINS
    for s in (slice(0, half), slice(half, None)):
        if new[s].any():
            out[s] = (1 - weight) * old[s] + weight * new[s] if old[s].any() else new[s]
    return out.astype(np.float32)


def proportions(kp2d: np.ndarray, det3d: np.ndarray | None = None) -> np.ndarray | None:
    """A body's bone-length shares: from the metric 3D pose det3d (17, 3) when given, else from the
    2D keypoints (17, 2). -> (8,) float32 summing to 1 (`_GROUPS`), or None for a degenerate pose."""
    pose = det3d if det3d is not None else kp2d
    if not np.isfinite(pose).all():
        return None
    lengths = bone_lengths(np.asarray(pose, np.float64))
    groups = np.array([lengths[list(g)].mean() for g in _GROUPS])
    total = groups.sum()
    if total <= 1e-9 or (groups <= 1e-6 * total).any():
        return None
    return (groups / total).astype(np.float32)


def proportion_similarity(a: np.ndarray, b: np.ndarray, tolerance: float = 0.12) -> float:
    """How alike two `proportions` are, in [0, 1]: exp(-mean |log(a / b)| / tolerance), so shares
    that differ by `tolerance` (relative) on average give 1/e."""
    d = np.abs(np.log(np.maximum(a, 1e-6) / np.maximum(b, 1e-6))).mean()
    return float(np.exp(-d / tolerance))
