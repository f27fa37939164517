"""Evaluation on the `real` set (`train/data/real.py`): what the runtime publishes, against the
detector's own 3D and the lifter alone, on real footage with triangulated 3D.

The published pose is made by the very steps the lift stage runs after its model
(`core.lift_steps.LiftSteps`: fusion with the detector's 3D, root solve, the stream's steady camera,
One-Euro and bone lengths per track), fed frame by frame along each view's tracks, each view a
stream. The fusion weights of a view are fitted on the other views only (cross-validation: the
`real` rows never score weights that saw their own camera); `real/in-sample` uses the weights the
runtime ships (`core.fusion.DETECTOR_3D_WEIGHTS`, fitted on all four).

Poses are scored on the 15 joints whose definition the triangulated truth shares with the H36M
skeleton the runtime publishes (`core.fusion.SHARED_JOINTS`: not Neck/Nose and Head, which the
2D detector places at its nose and eyes, and the lifter at H36M's neck and head top).

Rows (metrics in mm; camera errors as medians, relative):
    real                      published pose, all views          + camera: predicted and true K
    real/detector-3d          BlazePose's 3D alone
    real/lifter               our lifter alone (its own camera)   + camera
    real/camNN, real/camNN/detector-3d   per view
    real/in-sample            published, with the shipped weights
    real/no-fusion, real/no-smooth, real/no-bones, real/no-steady-camera   one step off at a time
`jitter` is the published joints' mean acceleration (m/s^2, root-relative, along tracks).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from camerapose.core import metrics
from camerapose.core.camera import denormalize_intrinsics, solve_translation
from camerapose.core.fusion import DETECTOR_3D_WEIGHTS, SHARED_JOINTS, fit_weights
from camerapose.core.lift_steps import LiftItem, LiftSteps, PostConfig

from .data.real import RealSet

STEP_VARIANTS = {
    "no-fusion": {"fusion": "off"},
    "no-smooth": {"smooth": False},
    "no-bones": {"bone_window": 0},
    "no-steady-camera": {"camera_window": 0},
}


def publish(real: RealSet, out: dict[str, np.ndarray], cfg: PostConfig,
            weights: dict[int, np.ndarray] | None = None, true_k: bool = False) -> dict[str, np.ndarray]:
    """The published poses of every row: LiftSteps per view, frame by frame, tracks as ids.

    out: the model's outputs for the rows (batch N, normalised); weights: fusion weights per view
    index (default the shipped ones); true_k: each view's true intrinsics as `lift.intrinsics`.
    -> {"kp3d" (N,17,3) absolute metres, "t" (N,3), "fx" (N,)}."""
    n = len(real)
    res = {"kp3d": np.zeros((n, 17, 3)), "t": np.zeros((n, 3)), "fx": np.zeros(n)}
    for v in np.unique(real.view):
        rows = np.flatnonzero(real.view == v)
        rows = rows[np.lexsort((real.track[rows], real.frame[rows]))]  # time order, then id
        view_cfg = dataclasses.replace(cfg, intrinsics=tuple(real.intrinsics[rows[0]]) if true_k else ())
        steps = LiftSteps(view_cfg, None if weights is None else weights[int(v)])
        for f in np.unique(real.frame[rows]):
            now = rows[real.frame[rows] == f]
            items = [_item(real, i) for i in now]
            for i, pose in zip(now, steps(items, {k: a[now] for k, a in out.items()}), strict=True):
                res["kp3d"][i], res["t"][i], res["fx"][i] = pose.kp3d, pose.t, pose.fx
    return res


def _item(real: RealSet, i: int) -> LiftItem:
    d3 = real.det3d[i]
    return LiftItem(real.views[real.view[i]], int(real.frame[i]), real.frame[i] / real.fps,
                    tuple(int(s) for s in real.size[i]), int(real.track[i]), real.kp2d_px[i],
                    real.poses.conf[i], d3 if np.isfinite(d3).all() else None)


def fittable(real: RealSet) -> np.ndarray:
    """The rows a fusion can be fitted and scored on: a whole truth and a detector 3D. -> (N,) bool."""
    return real.poses.has_3d & np.isfinite(real.det3d).all((1, 2))


def _fit(real: RealSet, lifter: np.ndarray, rows: np.ndarray, kind: str) -> np.ndarray:
    """`fit_weights` on the rows selected. lifter (N,17,3) -> (17, 3)."""
    return fit_weights(lifter[rows], real.det3d[rows], real.poses.kp3d[rows].astype(np.float64), kind)


def cross_validated_weights(real: RealSet, lifter: np.ndarray, kind: str = "plane+depth",
                            ) -> dict[int, np.ndarray]:
    """Fusion weights per view, each fitted on the scored rows of the other views. lifter (N,17,3)."""
    ok = fittable(real)
    return {int(v): _fit(real, lifter, ok & (real.view != v), kind) for v in np.unique(real.view)}


def fit_all(real: RealSet, lifter: np.ndarray, kind: str = "plane+depth") -> np.ndarray:
    """Fusion weights fitted on every scored row (what the runtime ships). lifter (N,17,3) -> (17, 3)."""
    return _fit(real, lifter, fittable(real), kind)


def scores(real: RealSet, pred: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """Pose metrics (mm) of root-relative or absolute predictions (N,17,3) on the rows in mask, over
    the shared joints (the pelvis, row 0, stays the root)."""
    m = mask & real.poses.has_3d
    p = (pred[m] - pred[m][:, :1])[:, SHARED_JOINTS]
    gt = real.poses.kp3d[m].astype(np.float64)[:, SHARED_JOINTS]
    return {"n": float(m.sum()), **metrics.summarize(p * 1000.0, gt * 1000.0)}


def camera_scores(real: RealSet, fx: np.ndarray, tz: np.ndarray, tz_true_k: np.ndarray | None,
                  mask: np.ndarray) -> dict[str, float]:
    """Median relative focal and root-depth errors, predicted camera and (if given) true K."""
    m = mask & real.poses.has_3d
    z = real.gt3d[m, 0, 2]
    out = {"focal_rel_err": float(np.median(np.abs(fx[m] / real.intrinsics[m, 0] - 1))),
           "depth_rel_err": float(np.median(np.abs(tz[m] / z - 1))),
           "depth_abs_err_m": float(np.median(np.abs(tz[m] - z)))}
    if tz_true_k is not None:
        out["depth_rel_err_given_k"] = float(np.median(np.abs(tz_true_k[m] / z - 1)))
    return out


def jitter(real: RealSet, kp3d: np.ndarray, mask: np.ndarray) -> float:
    """Mean acceleration (m/s^2) of the root-relative joints along every (view, track) run of
    consecutive frames in mask."""
    accs = []
    for v, tr in {(int(a), int(b)) for a, b in zip(real.view[mask], real.track[mask], strict=True)}:
        rows = np.flatnonzero(mask & (real.view == v) & (real.track == tr))
        rows = rows[np.argsort(real.frame[rows])]
        if len(rows) >= 3:
            rel = kp3d[rows] - kp3d[rows][:, :1]
            accs.append(metrics.jitter(rel, real.frame[rows] / real.fps, max_dt=1.5 / real.fps))
    accs = [a for a in accs if np.isfinite(a)]
    return float(np.mean(accs)) if accs else float("nan")


def evaluate_real(out: dict[str, np.ndarray], real: RealSet,
                  cfg: PostConfig | None = None) -> dict[str, dict]:
    """Every `real` row (module docstring) from the model's outputs for the set's rows; cfg: the
    post-model steps (default the runtime's)."""
    cfg = PostConfig() if cfg is None else cfg
    lifter = out["kp3d"].astype(np.float64)
    lifter = lifter - lifter[:, :1]
    cv = cross_validated_weights(real, lifter)
    every = np.ones(len(real), bool)
    det_ok = np.isfinite(real.det3d).all((1, 2))
    pub = publish(real, out, cfg, cv)
    pub_k = publish(real, out, cfg, cv, true_k=True)
    rows: dict[str, dict] = {}

    def published_row(mask: np.ndarray, p: dict, pk: dict | None) -> dict[str, float]:
        return {**scores(real, p["kp3d"], mask),
                **camera_scores(real, p["fx"], p["t"][:, 2], None if pk is None else pk["t"][:, 2], mask),
                "jitter": jitter(real, p["kp3d"], mask)}

    rows["real"] = published_row(every, pub, pub_k)
    rows["real/detector-3d"] = {**scores(real, np.nan_to_num(real.det3d), det_ok),
                                "jitter": jitter(real, np.nan_to_num(real.det3d), det_ok)}
    rows["real/lifter"] = {**scores(real, lifter, every), **_lifter_camera(real, out),
                           "jitter": jitter(real, lifter, every)}
    for v, name in enumerate(real.views):
        mask = real.view == v
        rows[f"real/{name}"] = published_row(mask, pub, pub_k)
        rows[f"real/{name}/detector-3d"] = scores(real, np.nan_to_num(real.det3d), mask & det_ok)
    shipped = {int(v): DETECTOR_3D_WEIGHTS for v in np.unique(real.view)}
    rows["real/in-sample"] = published_row(every, publish(real, out, cfg, shipped), None)
    for name, change in STEP_VARIANTS.items():
        variant = dataclasses.replace(cfg, **change)
        rows[f"real/{name}"] = published_row(every, publish(real, out, variant, cv), None)
    return rows


def _lifter_camera(real: RealSet, out: dict[str, np.ndarray]) -> dict[str, float]:
    """The model's own camera per person, as `camera_scores` for `real/lifter`, with t re-solved for
    the true K (what `--intrinsics` does). (`evaluate.camera_metrics` computes the same in the
    normalised frame; evaluate imports this module, so it cannot be called from here.)"""
    W, H = real.size[:, :1], real.size[:, 1:]
    focal, _ = denormalize_intrinsics(out["focal"].astype(np.float64), out["center"].astype(np.float64), W, H)
    X = out["kp3d"].astype(np.float64)
    X = X - X[:, :1]
    t_k = solve_translation(X, real.kp2d_px, real.poses.conf.astype(np.float64), real.intrinsics[:, :2],
                            real.intrinsics[:, 2:])
    return camera_scores(real, focal[:, 0], out["t"][:, 2].astype(np.float64), t_k[:, 2],
                         np.ones(len(real), bool))


def compare_fusions(real: RealSet, lifter: np.ndarray) -> dict[str, dict[str, float]]:
    """Each kind of fusion fit (`core.fusion.KINDS`), cross-validated over the cameras (fit on the
    others, score on each) and in sample, P-MPJPE of the raw blend (no post-model steps) in mm,
    beside the lifter and the detector alone. lifter (N,17,3) -> {kind: {camera or "cv mean" or
    "in sample": mm}}."""
    from camerapose.core.fusion import KINDS, fuse

    lifter = lifter - lifter[:, :1]
    ok = fittable(real)
    views = [int(v) for v in np.unique(real.view[ok])]
    det = np.nan_to_num(real.det3d)

    def mm(pred: np.ndarray, mask: np.ndarray) -> float:
        return scores(real, pred, mask)["p_mpjpe"]

    out: dict[str, dict[str, float]] = {
        "lifter": {real.views[v]: mm(lifter, ok & (real.view == v)) for v in views},
        "detector-3d": {real.views[v]: mm(det, ok & (real.view == v)) for v in views}}
    for kind in KINDS:
        cv = cross_validated_weights(real, lifter, kind)
        row = {real.views[v]: mm(fuse(lifter, det, cv[v]), ok & (real.view == v)) for v in views}
        row["in sample"] = mm(fuse(lifter, det, fit_all(real, lifter, kind)), ok)
        out[kind] = row
    for row in out.values():
        row["cv mean"] = float(np.mean([row[real.views[v]] for v in views]))
    return out


def format_fusions(rows: dict[str, dict[str, float]]) -> str:
    """`compare_fusions` as a Markdown table (P-MPJPE, mm)."""
    cols = list(next(iter(rows.values())))
    cols = [c for c in cols if c not in ("cv mean", "in sample")] + ["cv mean", "in sample"]
    lines = ["| fusion fit (P-MPJPE mm) | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for name, row in rows.items():
        lines.append(f"| {name} | " + " | ".join(f"{row[c]:.1f}" if c in row else "-" for c in cols) + " |")
    return "\n".join(lines)
