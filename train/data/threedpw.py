"""3DPW: `sequenceFiles/<split>/*.pkl`, one pickle per sequence (Python 2 pickles: loaded with
encoding="latin1", the dataset's documented way, through `safe_pickle`: numpy data only, no code).

Keys used: `jointPositions` (list per actor of (F, 72): 24 SMPL joints, world metres),
`cam_poses` (F, 4, 4) world -> camera, `cam_intrinsics` (3, 3), `campose_valid` (list per actor
of (F,)). Images are 1080 x 1920 (portrait). The 2D input is the projection of the mapped 3D
(ground-truth 2D, as the paper's 3DPW numbers); plug detections in with a detections file.

SMPL-24 -> H36M-17 is `core.skeleton.SMPL24` (its column in the table there).
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from camerapose.core.camera import reproject
from camerapose.core.errors import InputError
from camerapose.core.skeleton import SMPL24

from . import safe_pickle
from .base import PoseSet, concat, from_pixels

IMAGE_SIZE = (1080, 1920)
KEYS = ("jointPositions", "cam_poses", "cam_intrinsics", "campose_valid")


def load_sequence(path: str | Path) -> PoseSet:
    path = Path(path)
    try:
        with open(path, "rb") as f:
            seq = safe_pickle.load(f)
    except FileNotFoundError:
        raise InputError(f"3DPW file not found: {path}") from None
    except (pickle.UnpicklingError, EOFError, ValueError) as err:
        raise InputError(f"{path}: not a readable pickle ({err})") from None
    if not isinstance(seq, dict):
        raise InputError(f"{path}: expected a dict sequence file")
    missing = [k for k in KEYS if k not in seq]
    if missing:
        raise InputError(f"{path}: lacks {missing}")
    poses_cam = np.asarray(seq["cam_poses"], dtype=np.float64)
    K = np.asarray(seq["cam_intrinsics"], dtype=np.float64)
    if poses_cam.ndim != 3 or poses_cam.shape[1:] != (4, 4) or K.shape != (3, 3):
        raise InputError(f"{path}: cam_poses {poses_cam.shape} / cam_intrinsics {K.shape}, "
                         "expected (F, 4, 4) / (3, 3)")
    sets = []
    for actor, joints in enumerate(seq["jointPositions"]):
        joints = np.asarray(joints, dtype=np.float64)
        valid = np.asarray(seq["campose_valid"][actor]).astype(bool)
        if joints.shape != (len(poses_cam), 72) or valid.shape != (len(poses_cam),):
            raise InputError(f"{path}: jointPositions[{actor}] {joints.shape} / campose_valid "
                             f"{valid.shape}, expected ({len(poses_cam)}, 72) / ({len(poses_cam)},)")
        if not np.all(np.isfinite(joints[valid])):
            raise InputError(f"{path}: jointPositions[{actor}] holds NaN or inf")
        world, _ = SMPL24(joints[valid].reshape(-1, 24, 3))
        R, t = poses_cam[valid, :3, :3], poses_cam[valid, :3, 3]
        X = np.einsum("nij,nkj->nki", R, world) + t[:, None]
        n = len(X)
        focal = np.tile([K[0, 0], K[1, 1]], (n, 1))
        centre = np.tile([K[0, 2], K[1, 2]], (n, 1))
        uv = reproject(X - X[:, :1], focal, centre, X[:, 0])
        sets.append(from_pixels(f"3dpw/{path.stem}/{actor}", uv, np.tile(IMAGE_SIZE, (n, 1)), kp3d=X,
                                focal_px=focal, center_px=centre, t=X[:, 0]))
    if not sets:
        raise InputError(f"{path}: no actors")
    return concat(f"3dpw/{path.stem}", sets)


def load_3dpw(directory: str | Path) -> PoseSet:
    """Every sequence of a split directory (e.g. sequenceFiles/test)."""
    directory = Path(directory)
    files = sorted(directory.glob("*.pkl")) if directory.is_dir() else [directory]
    if not files:
        raise InputError(f"3DPW: no .pkl sequence files in {directory}")
    return concat("3dpw", [load_sequence(p) for p in files])
