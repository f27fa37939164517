"""The `real` test set: real footage, the project's own detector, triangulated 3D (read-only here).

Built into the asset cache by `camerapose assets fetch --mocap` (`camerapose/real_set.py` says how:
four calibrated views of two people, BlazePose on every frame, robust triangulation). One row per
person, view and frame. `load_real` gives a `RealSet`: a PoseSet for the model (normalised 2D, the
triangulated 3D root-relative in that camera's frame, the true camera) and what the evaluation of
the published pose needs beside it (which view, frame and track a row is, the detector's own 3D,
pixels, the absolute 3D).

Rows whose 17 joints were not all triangulated have `has_3d` False: they still go through the
per-track steps (a track is a sequence), but are not scored.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from camerapose.core.errors import InputError

from .base import PoseSet, from_pixels

FPS = 60.0  # the footage's frame rate (Pose2Sim's Demo_MultiPerson)


@dataclass(frozen=True)
class RealSet:
    """N rows. poses: the model's view of them; view, frame, person, track (N,) int; kp2d_px (N,17,2);
    det3d (N,17,3) metres, camera axes, pelvis at 0 (the detector's own 3D; NaN where it gave none);
    gt3d (N,17,3) absolute metres in the view's camera frame (NaN where not triangulated);
    intrinsics (N,4) fx, fy, cx, cy pixels; size (N,2) w, h; views: the view names by index."""

    poses: PoseSet
    view: np.ndarray
    frame: np.ndarray
    person: np.ndarray
    track: np.ndarray
    kp2d_px: np.ndarray
    det3d: np.ndarray
    gt3d: np.ndarray
    intrinsics: np.ndarray
    size: np.ndarray
    views: tuple[str, ...]
    fps: float = FPS

    def __len__(self) -> int:
        return len(self.view)

    def subset(self, index: np.ndarray) -> RealSet:
        """The rows `index` selects (a bool mask or indices), in their order."""
        per_row = {f.name: getattr(self, f.name)[index] for f in fields(self)
                   if f.name not in ("poses", "views", "fps")}
        return RealSet(self.poses.subset(index), **per_row, views=self.views, fps=self.fps)

    def of_view(self, name: str) -> RealSet:
        return self.subset(self.view == self.views.index(name))


def default_path() -> Path:
    from camerapose.assets import cache_dir

    return cache_dir() / "real" / "pose2sim_multi.npz"


def load_real(path: str | Path | None = None) -> RealSet:
    """The built set (default: the asset cache's). -> RealSet, rows ordered by view, track, frame."""
    path = Path(path) if path else default_path()
    if not path.is_file():
        raise InputError(f"{path} is missing: `camerapose assets fetch --mocap` builds the real set")
    try:
        with np.load(path, allow_pickle=False) as z:
            a = {k: z[k] for k in ("view", "frame", "person", "track", "kp2d", "conf", "det3d", "size",
                                   "intrinsics", "gt3d", "views")}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
        raise InputError(f"{path}: not a real-set file ({err}); rebuild it with "
                         "`camerapose assets fetch --mocap`") from None
    order = np.lexsort((a["frame"], a["track"], a["view"]))
    a = {k: (v[order] if k != "views" else v) for k, v in a.items()}
    gt, size, K = (a[k].astype(np.float64) for k in ("gt3d", "size", "intrinsics"))
    complete = np.isfinite(gt).all((1, 2))
    kp3d = np.where(complete[:, None, None], gt, 0.0)
    t = np.where(complete[:, None], np.nan_to_num(gt[:, 0]), 0.0)
    poses = from_pixels("real", a["kp2d"], size, np.clip(a["conf"], 0, 1), kp3d=kp3d, focal_px=K[:, :2],
                        center_px=K[:, 2:], t=t)
    poses = PoseSet("real", **{**poses.arrays(), "has_3d": complete, "has_camera": complete})
    return RealSet(poses, a["view"].astype(int), a["frame"].astype(int), a["person"].astype(int),
                   a["track"].astype(int), a["kp2d"].astype(np.float64), a["det3d"].astype(np.float64), gt,
                   K, size, tuple(str(v) for v in a["views"]))
