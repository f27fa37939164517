"""MPI-INF-3DHP test set: `TS<k>/annot_data.mat`, in MATLAB v5 (read with scipy.io.loadmat) or
v7.3 (HDF5; read with h5py, an optional dependency: `pip install h5py`).

Variables used (MATLAB dims): `annot2` (2, 17, 1, F) pixels, `annot3` (3, 17, 1, F) mm camera
frame, `univ_annot3` (3, 17, 1, F) mm (the height-normalised skeleton every paper evaluates on),
`valid_frame` (1, F). scipy returns MATLAB's dims; h5py returns them reversed, (F, 1, 17, C).
Only valid frames are kept. Joints map with core.skeleton's "3dhp17". Image size: 2048x2048 for
TS1-TS4 (studio), 1920x1080 for TS5-TS6 (outdoor), told apart by the 2D extent unless given.
The intrinsics are fitted per file by least squares from annot2 = K annot3 (exact for these
undistorted test annotations), so no camera table is needed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from camerapose.core.errors import InputError
from camerapose.core.skeleton import to_h36m

from .base import PoseSet, from_pixels

KEYS = ("annot2", "annot3", "univ_annot3", "valid_frame")


def _read(path: Path) -> dict[str, np.ndarray]:
    """The four variables in (F, 1, 17, C) / (F,) layout, whatever the MAT version."""
    if not path.is_file():
        raise InputError(f"3DHP file not found: {path}")
    with open(path, "rb") as f:
        head = f.read(128)
    if b"MATLAB 7.3" in head or head.startswith(b"\x89HDF"):
        try:
            import h5py
        except ImportError:
            raise InputError(f"{path} is a MATLAB v7.3 (HDF5) file: install h5py to read it "
                             "(pip install h5py)") from None
        with h5py.File(path, "r") as f:
            missing = [k for k in KEYS if k not in f]
            if missing:
                raise InputError(f"{path}: lacks {missing}")
            out = {k: np.asarray(f[k]) for k in KEYS}
    else:
        from scipy.io import loadmat

        try:
            mat = loadmat(path)
        except Exception as err:  # scipy raises several types for a foreign file
            raise InputError(f"{path}: not a readable .mat file ({err})") from None
        missing = [k for k in KEYS if k not in mat]
        if missing:
            raise InputError(f"{path}: lacks {missing}")
        out = {k: (mat[k].transpose(3, 2, 1, 0) if mat[k].ndim == 4 else mat[k].T) for k in KEYS}
    out["valid_frame"] = out["valid_frame"].reshape(-1)
    frames = len(out["valid_frame"])
    for key, c in (("annot2", 2), ("annot3", 3), ("univ_annot3", 3)):
        if out[key].shape != (frames, 1, 17, c):
            raise InputError(f"{path}: {key} has shape {out[key].shape} after reading, expected "
                             f"({frames}, 1, 17, {c}) (MATLAB: ({c}, 17, 1, {frames}))")
    return out


def fit_intrinsics(uv: np.ndarray, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares fx, cx and fy, cy from u = fx X/Z + cx. (N,J,2), (N,J,3) -> focal (2,), centre (2,)."""
    xy = (X[..., :2] / X[..., 2:3]).reshape(-1, 2)
    uv = uv.reshape(-1, 2)
    focal, centre = np.zeros(2), np.zeros(2)
    for a in range(2):
        A = np.stack([xy[:, a], np.ones(len(xy))], 1)
        (focal[a], centre[a]), *_ = np.linalg.lstsq(A, uv[:, a], rcond=None)
    return focal, centre


def load_3dhp(path: str | Path, image_size: tuple[int, int] | None = None) -> PoseSet:
    path = Path(path)
    d = _read(path)
    valid = d["valid_frame"] > 0
    uv = d["annot2"][valid, 0].astype(np.float64)
    X = d["annot3"][valid, 0].astype(np.float64) / 1000.0
    univ = d["univ_annot3"][valid, 0].astype(np.float64) / 1000.0
    for key, arr in (("annot2", uv), ("annot3", X), ("univ_annot3", univ)):
        if not np.all(np.isfinite(arr)):
            raise InputError(f"{path}: {key} holds NaN or inf in valid frames")
    if len(uv) == 0:
        raise InputError(f"{path}: no valid frames")
    if image_size is None:
        image_size = (2048, 2048) if uv[..., 1].max() > 1080 or uv[..., 0].max() < 1100 else (1920, 1080)
    focal, centre = fit_intrinsics(uv, X)
    uv17, _ = to_h36m(uv, "3dhp17")
    X17, _ = to_h36m(X, "3dhp17")
    univ17, _ = to_h36m(univ, "3dhp17")
    n = len(uv17)
    return from_pixels(f"3dhp/{path.parent.name}", uv17, np.tile(image_size, (n, 1)), kp3d=univ17,
                       focal_px=np.tile(focal, (n, 1)), center_px=np.tile(centre, (n, 1)), t=X17[:, 0])
