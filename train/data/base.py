"""`PoseSet`: the one in-memory layout every dataset loader produces and the training loop reads.

All 2D is in normalised screen coordinates (`core.camera.normalize_screen`), all 3D in metres,
root-relative (pelvis at 0), in the camera frame; intrinsics in the normalised screen frame.
Samples without 3D (2D-only datasets) have `has_3d` False and zeros in kp3d; samples without a
known camera have `has_camera` False and zeros in focal/center/t. A 2D-only sample may carry a
teacher's 3D instead (`has_teacher`: kp3d holds another model's estimate, e.g. BlazePose's world
landmarks on real video: a weak target, never ground truth).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from camerapose.core.camera import normalize_intrinsics, normalize_screen
from camerapose.core.errors import InputError
from camerapose.core.skeleton import NUM_JOINTS, Joint

J = NUM_JOINTS


@dataclass(frozen=True)
class PoseSet:
    """N samples. Shapes: kp2d, kp2d_gt (N,17,2); conf (N,17); kp3d (N,17,3); focal, center (N,2);
    t (N,3); image_size (N,2) [w, h] pixels; has_3d, has_camera, has_teacher (N,) bool (has_teacher
    defaults to all False)."""

    name: str
    kp2d: np.ndarray
    conf: np.ndarray
    kp2d_gt: np.ndarray
    kp3d: np.ndarray
    focal: np.ndarray
    center: np.ndarray
    t: np.ndarray
    image_size: np.ndarray
    has_3d: np.ndarray
    has_camera: np.ndarray
    has_teacher: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.kp2d)
        if self.has_teacher is None:
            object.__setattr__(self, "has_teacher", np.zeros(n, dtype=bool))
        spec = {"kp2d": (n, J, 2), "conf": (n, J), "kp2d_gt": (n, J, 2), "kp3d": (n, J, 3),
                "focal": (n, 2), "center": (n, 2), "t": (n, 3), "image_size": (n, 2),
                "has_3d": (n,), "has_camera": (n,), "has_teacher": (n,)}
        for name, shape in spec.items():
            a = getattr(self, name)
            if a.shape != shape:
                raise InputError(f"{self.name}: {name} has shape {a.shape}, expected {shape}")
            if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
                raise InputError(f"{self.name}: {name} holds NaN or infinite values")

    def __len__(self) -> int:
        return len(self.kp2d)

    def subset(self, index: np.ndarray) -> PoseSet:
        return PoseSet(self.name, **{f.name: getattr(self, f.name)[index] for f in fields(self)
                                     if f.name != "name"})

    def arrays(self) -> dict[str, np.ndarray]:
        """Every per-sample array by name (float32 / bool), in field order."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "name"}


def concat(name: str, sets: list[PoseSet]) -> PoseSet:
    """Concatenate sets sample-wise."""
    keys = [f.name for f in fields(PoseSet) if f.name != "name"]
    return PoseSet(name, **{k: np.concatenate([getattr(s, k) for s in sets]) for k in keys})


def from_pixels(
    name: str,
    uv: np.ndarray,
    size: np.ndarray,
    conf: np.ndarray | None = None,
    uv_gt: np.ndarray | None = None,
    kp3d: np.ndarray | None = None,
    focal_px: np.ndarray | None = None,
    center_px: np.ndarray | None = None,
    t: np.ndarray | None = None,
) -> PoseSet:
    """Build a PoseSet from pixel keypoints (N,17,2), image sizes (N,2) and what else is known.

    kp3d must already be camera-frame metres; it is made root-relative here.
    """
    n = len(uv)
    f32 = np.float32
    w, h = size[:, 0, None, None].astype(np.float64), size[:, 1, None, None].astype(np.float64)
    kp2d = normalize_screen(uv.astype(np.float64), w, h)
    gt = kp2d if uv_gt is None else normalize_screen(uv_gt.astype(np.float64), w, h)
    has_cam = focal_px is not None
    if has_cam:
        fn, cn = normalize_intrinsics(focal_px.astype(np.float64), center_px.astype(np.float64),
                                      w[:, 0], h[:, 0])
    else:
        fn = cn = np.zeros((n, 2))
    root = int(Joint.PELVIS)
    return PoseSet(
        name=name,
        kp2d=kp2d.astype(f32),
        conf=(np.ones((n, J)) if conf is None else conf).astype(f32),
        kp2d_gt=gt.astype(f32),
        kp3d=(np.zeros((n, J, 3)) if kp3d is None else kp3d - kp3d[:, root : root + 1]).astype(f32),
        focal=fn.astype(f32),
        center=cn.astype(f32),
        t=(np.zeros((n, 3)) if t is None else t).astype(f32),
        image_size=size.astype(f32),
        has_3d=np.full(n, kp3d is not None),
        has_camera=np.full(n, has_cam and t is not None),
    )


def read_json(path: Path, what: str) -> Any:
    """The parsed JSON of an annotation file; InputError naming `what` if absent or malformed."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"{what} file not found: {path}") from None
    except json.JSONDecodeError as err:
        raise InputError(f"{path}: not valid JSON ({err})") from None
