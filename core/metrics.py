"""3D pose metrics: MPJPE, P-MPJPE, N-MPJPE, PCK and AUC, with per-joint breakdowns.

All functions take poses (..., J, 3) in one unit and return errors in that unit; the published
numbers are in millimetres, so convert metres with `* 1000` first. Computation is float64.

- `joint_errors(pred, gt, align)` is the one primitive: per-joint Euclidean errors (..., J)
  after one of four alignments of the prediction onto the ground truth;
- `mpjpe`, `p_mpjpe`, `n_mpjpe` are its means;
- `pck` and `auc` read the same per-joint errors (3DHP: PCK@150 mm, strict <; AUC over
  thresholds 0, 5, ..., 150 mm);
- temporal quality of one person's track, no ground truth needed: `bone_length_cv` (a rigid
  skeleton keeps its bone lengths) and `jitter` (mean joint acceleration).

A note on P-MPJPE <= MPJPE: Procrustes minimises the *squared* error, so the RMS error after
Procrustes never exceeds the RMS error after root alignment; the mean of Euclidean errors can
(one far-off joint gets spread over all joints). `tests/core/test_metrics.py` shows both.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from .errors import InputError
from .shapes import check_shape
from .skeleton import Joint, bone_lengths

Align = Literal["none", "root", "scale", "procrustes"]
AUC_THRESHOLDS = np.arange(0.0, 151.0, 5.0)  # mm; 31 thresholds


def _pair(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    dims = check_shape("pred", pred, (..., "J", 3))
    check_shape("gt", gt, tuple(pred.shape), dims)
    return np.asarray(pred, dtype=np.float64), np.asarray(gt, dtype=np.float64)


def root_align(pose: np.ndarray, root: int = Joint.PELVIS) -> np.ndarray:
    """Subtract the root joint. (..., J, 3) -> (..., J, 3)."""
    return pose - pose[..., root : root + 1, :]


def scale_align(pred: np.ndarray, gt: np.ndarray, root: int = Joint.PELVIS) -> np.ndarray:
    """Root-align both, then scale pred by the least-squares factor. (..., J, 3) -> (..., J, 3)."""
    p, g = root_align(pred, root), root_align(gt, root)
    num = (p * g).sum((-1, -2), keepdims=True)
    den = (p * p).sum((-1, -2), keepdims=True)
    return p * (num / np.where(den > 0, den, 1.0)) + gt[..., root : root + 1, :]


def procrustes_align(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Best similarity transform (rotation, uniform scale, translation) of pred onto gt.

    (..., J, 3) -> (..., J, 3), per sample; reflections are excluded (det R = +1).
    """
    mu_p, mu_g = pred.mean(-2, keepdims=True), gt.mean(-2, keepdims=True)
    p, g = pred - mu_p, gt - mu_g
    H = np.swapaxes(p, -1, -2) @ g  # (..., 3, 3)
    U, S, Vt = np.linalg.svd(H)
    # Flip the last singular direction when the best orthogonal map would be a reflection.
    d = np.sign(np.linalg.det(np.swapaxes(Vt, -1, -2) @ np.swapaxes(U, -1, -2)))
    d = np.where(d == 0, 1.0, d)
    D = np.ones(S.shape)
    D[..., -1] = d
    R = np.swapaxes(Vt, -1, -2) @ (D[..., :, None] * np.swapaxes(U, -1, -2))  # (..., 3, 3)
    var_p = (p * p).sum((-1, -2))
    scale = (S * D).sum(-1) / np.where(var_p > 0, var_p, 1.0)
    return scale[..., None, None] * (p @ np.swapaxes(R, -1, -2)) + mu_g


def joint_errors(
    pred: np.ndarray, gt: np.ndarray, align: Align = "root", root: int = Joint.PELVIS
) -> np.ndarray:
    """Per-joint Euclidean error after aligning pred onto gt. (..., J, 3) x2 -> (..., J).

    align: "none" (absolute), "root" (MPJPE), "scale" (N-MPJPE), "procrustes" (P-MPJPE).
    """
    pred, gt = _pair(pred, gt)
    if align == "none":
        aligned, target = pred, gt
    elif align == "root":
        aligned, target = root_align(pred, root), root_align(gt, root)
    elif align == "scale":
        aligned, target = scale_align(pred, gt, root), gt
    elif align == "procrustes":
        aligned, target = procrustes_align(pred, gt), gt
    else:
        raise ValueError(f"align: expected none|root|scale|procrustes, got {align!r}")
    return np.linalg.norm(aligned - target, axis=-1)


def mpjpe(pred: np.ndarray, gt: np.ndarray, root: int = Joint.PELVIS) -> float:
    """Mean per-joint position error after root alignment."""
    return float(joint_errors(pred, gt, "root", root).mean())


def p_mpjpe(pred: np.ndarray, gt: np.ndarray) -> float:
    """MPJPE after per-sample Procrustes alignment (rotation, scale, translation)."""
    return float(joint_errors(pred, gt, "procrustes").mean())


def n_mpjpe(pred: np.ndarray, gt: np.ndarray, root: int = Joint.PELVIS) -> float:
    """MPJPE after root alignment and a per-sample least-squares scale."""
    return float(joint_errors(pred, gt, "scale", root).mean())


def pck(errors: np.ndarray, threshold: float = 150.0) -> float:
    """Fraction of joints whose error is strictly below `threshold`. errors (..., J)."""
    return float((np.asarray(errors) < threshold).mean())


def auc(errors: np.ndarray, thresholds: np.ndarray = AUC_THRESHOLDS) -> float:
    """Mean PCK over `thresholds` (default 0..150 mm step 5). errors (..., J)."""
    e = np.asarray(errors)
    return float(np.mean([(e < th).mean() for th in thresholds]))


def per_joint(errors: np.ndarray) -> np.ndarray:
    """Mean error of each joint over all samples. (..., J) -> (J,)."""
    e = np.asarray(errors)
    return e.reshape(-1, e.shape[-1]).mean(0)


def summarize(pred: np.ndarray, gt: np.ndarray, pck_threshold: float = 150.0) -> dict[str, float]:
    """Every headline metric at once, in the unit of the inputs (use mm)."""
    root_err = joint_errors(pred, gt, "root")
    return {
        "mpjpe": float(root_err.mean()),
        "p_mpjpe": p_mpjpe(pred, gt),
        "n_mpjpe": n_mpjpe(pred, gt),
        "pck": pck(root_err, pck_threshold),
        "auc": auc(root_err),
    }


def bone_length_cv(track: np.ndarray) -> np.ndarray:
    """Coefficient of variation of every bone's length over a track: std / mean over frames.

    track (T, 17, 3), any length unit, T >= 2 -> (16,) float64 in bone order (`skeleton.BONES`),
    a fraction (x 100 for %); 0 for a perfectly rigid skeleton, and a bone of zero mean length
    counts as 0. Population std (ddof 0). `np.mean` of it is the track's mean bone-length CV.
    """
    check_shape("track", track, ("T", 17, 3))
    if track.shape[0] < 2:
        raise InputError(f"bone_length_cv: need at least 2 frames, got {track.shape[0]}")
    lengths = bone_lengths(np.asarray(track, np.float64))  # (T, 16)
    mean = lengths.mean(0)
    return np.where(mean > 0, lengths.std(0) / np.where(mean > 0, mean, 1.0), 0.0)


def jitter(track: np.ndarray, t: np.ndarray, max_dt: float | None = None) -> float:
    """Mean joint acceleration magnitude of a track, by second differences on its timestamps.

    track (T, J, 3) positions (e.g. metres), t (T,) strictly increasing seconds, T >= 3. At every
    inner frame i, with h1 = t_i - t_(i-1) and h2 = t_(i+1) - t_i, the acceleration is
    2 ((x_(i+1) - x_i) / h2 - (x_i - x_(i-1)) / h1) / (h1 + h2) (exact for a parabola, also on
    uneven spacing). -> the mean over inner frames and joints of its norm (e.g. m/s^2). With
    `max_dt`, frames next to a gap longer than that (a track unseen for a while) are skipped;
    NaN when no frame is left.
    """
    dims = check_shape("track", track, ("T", "J", 3))
    check_shape("t", t, ("T",), dims)
    x, tt = np.asarray(track, np.float64), np.asarray(t, np.float64)
    if x.shape[0] < 3:
        raise InputError(f"jitter: need at least 3 frames, got {x.shape[0]}")
    h = np.diff(tt)
    if not np.all(h > 0):
        raise InputError("jitter: timestamps must be strictly increasing")
    h1, h2 = h[:-1, None, None], h[1:, None, None]
    v1 = (x[1:-1] - x[:-2]) / h1
    v2 = (x[2:] - x[1:-1]) / h2
    acc = np.linalg.norm(2.0 * (v2 - v1) / (h1 + h2), axis=-1)  # (T - 2, J)
    if max_dt is not None:
        acc = acc[(h[:-1] <= max_dt) & (h[1:] <= max_dt)]
    return float(acc.mean()) if acc.size else float("nan")
