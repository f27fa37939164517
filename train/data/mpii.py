"""MPII Human Pose, 2D only, from the common JSON conversion (HRNet / Simple Baselines'
`annot/train.json`): a list of {"image", "joints" (16 x [x, y], 0-based pixels), "joints_vis"
(16 x 0/1), "center" [x, y], "scale" (person height / 200 px)}.

We read this JSON, not the official `mpii_human_pose_v1_u12_1.mat`: it is what every 2D-pose
codebase ships, it holds the same annotations for the train/val people, and it needs no MATLAB
struct walking. Neither format stores the image size, so each person is placed in a virtual
square frame centred on `center` with side 2 x 200 x scale pixels (the person fills about half
of it): for 2D-only samples the camera is unknown anyway and the 2D losses only need a consistent
frame. Filter (as the paper's ~10k clean samples): every one of the 16 joints annotated and
visible. MPII's own pelvis/thorax are not used (see core.skeleton: derived like the runtime's).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from camerapose.core.errors import InputError
from camerapose.core.skeleton import to_h36m

from .base import PoseSet, from_pixels, read_json


def load_mpii(path: str | Path, require_all_visible: bool = True) -> PoseSet:
    path = Path(path)
    items = read_json(path, "MPII")
    if not isinstance(items, list):
        raise InputError(f"{path}: expected a list of person annotations (HRNet's MPII JSON)")
    uv, sizes = [], []
    for i, item in enumerate(items):
        for key in ("joints", "joints_vis", "center", "scale"):
            if not isinstance(item, dict) or key not in item:
                raise InputError(f"{path}: entry {i} lacks key {key!r}")
        joints = np.asarray(item["joints"], dtype=np.float64)
        vis = np.asarray(item["joints_vis"], dtype=np.float64)
        if joints.shape != (16, 2) or vis.shape != (16,):
            raise InputError(f"{path}: entry {i}: joints {joints.shape} / joints_vis {vis.shape}, "
                             "expected (16, 2) / (16,)")
        if not np.all(np.isfinite(joints)) or not np.isfinite(item["scale"]):
            raise InputError(f"{path}: entry {i} holds NaN or inf")
        if require_all_visible and not (np.all(vis > 0) and np.all(joints >= 0)):
            continue
        side = 2 * 200.0 * float(item["scale"])
        centre = np.asarray(item["center"], dtype=np.float64)
        uv.append(joints - centre + side / 2)  # into the virtual frame
        sizes.append((side, side))
    if not uv:
        raise InputError(f"{path}: no person with all 16 joints visible")
    kp, _ = to_h36m(np.stack(uv), "mpii16")
    return from_pixels("mpii", kp, np.asarray(sizes))
