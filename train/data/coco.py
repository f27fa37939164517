"""COCO keypoints, 2D only, from the official `person_keypoints_<split>.json`.

Reads `images` (id, width, height) and `annotations` (image_id, keypoints = 17 x [x, y, v],
iscrowd). Kept: non-crowd people whose 15 joints that H36M uses (all but the ears) are labelled
(v > 0): full-body people, as MPII's filter. Mapped with core.skeleton's "coco17".
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from camerapose.core.errors import InputError
from camerapose.core.skeleton import to_h36m

from .base import PoseSet, from_pixels, read_json

USED = [0, 1, 2, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]  # COCO joints the H36M map reads


def load_coco(path: str | Path) -> PoseSet:
    path = Path(path)
    data = read_json(path, "COCO")
    for key in ("images", "annotations"):
        if not isinstance(data, dict) or key not in data:
            raise InputError(f"{path}: no {key!r} list; is this a COCO person_keypoints file?")
    sizes = {}
    for img in data["images"]:
        try:
            sizes[img["id"]] = (float(img["width"]), float(img["height"]))
        except (KeyError, TypeError):
            raise InputError(f"{path}: an image entry lacks id/width/height") from None
    uv, wh = [], []
    for i, ann in enumerate(data["annotations"]):
        if "keypoints" not in ann or "image_id" not in ann:
            raise InputError(f"{path}: annotation {i} lacks 'keypoints' or 'image_id'")
        if ann.get("iscrowd", 0):
            continue
        kp = np.asarray(ann["keypoints"], dtype=np.float64)
        if kp.shape != (51,):
            raise InputError(f"{path}: annotation {i}: keypoints has {kp.size} values, expected 51")
        if not np.all(np.isfinite(kp)):
            raise InputError(f"{path}: annotation {i}: keypoints hold NaN or inf")
        kp = kp.reshape(17, 3)
        if not np.all(kp[USED, 2] > 0):
            continue
        if ann["image_id"] not in sizes:
            raise InputError(f"{path}: annotation {i} names image {ann['image_id']}, not in 'images'")
        uv.append(kp[:, :2])
        wh.append(sizes[ann["image_id"]])
    if not uv:
        raise InputError(f"{path}: no non-crowd person with all used joints labelled")
    mapped, _ = to_h36m(np.stack(uv), "coco17")
    return from_pixels("coco", mapped, np.asarray(wh))
