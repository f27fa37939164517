"""Drawing 2D skeletons with their track ids onto frames (for `--annotate` outputs).

    out = draw_persons(frame, persons)            # a copy; pass inplace=True to draw on `frame`

`persons` are anything with `id`, `keypoints` (17, 2) pixels, `confidence` (17,) and `box` (4,)
(e.g. `Person2D`). Joints below `min_confidence` and their bones are not drawn.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import cv2
import numpy as np

from camerapose.core.skeleton import BONES, LEFT_JOINTS, RIGHT_JOINTS

_LEFT = {int(j) for j in LEFT_JOINTS}
_RIGHT = {int(j) for j in RIGHT_JOINTS}


def id_color(track_id: int) -> tuple[int, int, int]:
    """A distinct, stable BGR colour per track id (golden-ratio hue steps)."""
    hue = int((track_id * 0.618033988749895 % 1.0) * 180)
    hsv = np.array([[[hue, 200, 255]]], np.uint8)
    b, g, r = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0]
    return int(b), int(g), int(r)


def draw_persons(frame: np.ndarray, persons: Iterable[Any], min_confidence: float = 0.2,
                 inplace: bool = False, draw_box: bool = True) -> np.ndarray:
    """Skeletons, boxes and ids on an HxWx3 uint8 BGR frame. -> the annotated frame."""
    out = frame if inplace else frame.copy()
    scale = max(1, round(max(out.shape[:2]) / 640))
    for p in persons:
        color = id_color(int(p.id))
        kp = np.asarray(p.kp2d, np.float64)
        conf = np.asarray(p.conf, np.float64)
        ok = np.isfinite(kp).all(-1) & (conf >= min_confidence)
        for parent, child in BONES:
            if ok[parent] and ok[child]:
                side = (255, 128, 0) if child in _LEFT else (0, 128, 255) if child in _RIGHT else color
                cv2.line(out, _pt(kp[parent]), _pt(kp[child]), side, 2 * scale, cv2.LINE_AA)
        for j in np.flatnonzero(ok):
            cv2.circle(out, _pt(kp[j]), 3 * scale, color, -1, cv2.LINE_AA)
        box = np.asarray(p.box, np.float64)
        if draw_box and np.isfinite(box).all():
            cv2.rectangle(out, _pt(box[:2]), _pt(box[2:]), color, scale, cv2.LINE_AA)
        anchor = _pt(box[:2]) if np.isfinite(box).all() else _pt(kp[ok].min(0) if ok.any() else (0, 0))
        cv2.putText(out, f"#{int(p.id)}", (anchor[0], max(anchor[1] - 6 * scale, 12 * scale)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale, color, 2 * scale, cv2.LINE_AA)
    return out


def _pt(xy: Any) -> tuple[int, int]:
    x, y = np.clip(np.asarray(xy, np.float64), -1e6, 1e6)
    return int(np.rint(x)), int(np.rint(y))
