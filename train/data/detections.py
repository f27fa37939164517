"""2D-detections files: swap a dataset's ground-truth 2D input for a detector's (HRNet, CPN,
BlazePose...), keeping its 2D labels, 3D and cameras.

Format (`.npz`), one row per sample of the dataset, in the loader's sample order:
- `keypoints` (N, K, 2) float pixels; `confidence` (N, K) float in [0, 1];
- `joint_format` (str): a key of core.skeleton.JOINT_MAPS ("h36m17", "coco17", "blazepose33"...).
Write one with `save_detections`.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from camerapose.core.camera import normalize_screen
from camerapose.core.errors import InputError
from camerapose.core.skeleton import JOINT_MAPS, to_h36m

from .base import PoseSet


def save_detections(path: str | Path, keypoints: np.ndarray, confidence: np.ndarray,
                    joint_format: str) -> None:
    """Write a detections file: keypoints (N, K, 2) pixels, confidence (N, K), a JOINT_MAPS key."""
    np.savez(path, keypoints=keypoints, confidence=confidence, joint_format=np.array(joint_format))


def load_detections(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """-> keypoints (N, 17, 2) pixels, confidence (N, 17), mapped into H36M-17."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in ("keypoints", "confidence", "joint_format") if k not in f.files]
            if missing:
                raise InputError(f"{path}: detections file lacks {missing} (has {f.files})")
            kp, conf, fmt = f["keypoints"], f["confidence"], str(f["joint_format"])
    except FileNotFoundError:
        raise InputError(f"detections file not found: {path}") from None
    except (OSError, ValueError) as err:
        raise InputError(f"{path}: not a readable .npz ({err})") from None
    if fmt not in JOINT_MAPS:
        raise InputError(f"{path}: joint_format {fmt!r} unknown; known: {sorted(JOINT_MAPS)}")
    k = JOINT_MAPS[fmt].num_source_joints
    if kp.ndim != 3 or kp.shape[1:] != (k, 2) or conf.shape != kp.shape[:2]:
        raise InputError(f"{path}: keypoints {kp.shape} / confidence {conf.shape}, expected (N, {k}, 2) / "
                         f"(N, {k}) for {fmt}")
    if not (np.all(np.isfinite(kp)) and np.all(np.isfinite(conf))):
        raise InputError(f"{path}: keypoints or confidence hold NaN or inf")
    mapped, c = to_h36m(kp.astype(np.float64), fmt, conf.astype(np.float64))
    return mapped, np.clip(c, 0.0, 1.0)


def apply_detections(poses: PoseSet, path: str | Path) -> PoseSet:
    """The same samples with the detector's 2D (normalised) and confidences as input."""
    kp, conf = load_detections(path)
    if len(kp) != len(poses):
        raise InputError(f"{path}: {len(kp)} detections for {len(poses)} samples of {poses.name}")
    w = poses.image_size[:, 0, None, None].astype(np.float64)
    h = poses.image_size[:, 1, None, None].astype(np.float64)
    kp2d = normalize_screen(kp, w, h).astype(np.float32)
    return replace(poses, kp2d=kp2d, conf=conf.astype(np.float32))
