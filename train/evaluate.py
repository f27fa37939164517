"""Evaluation of ONE model on every configured test set: MPJPE / P-MPJPE / N-MPJPE (mm), and PCK /
AUC (for 3DHP; reported for all), plus the camera branch's errors where the camera is known."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from camerapose.core import metrics
from camerapose.core.camera import solve_translation
from camerapose.models.pose import PoseModel

from .data.base import PoseSet


@torch.no_grad()
def predict(model: PoseModel, poses: PoseSet, batch_size: int = 4096,
            device: str | torch.device = "cpu") -> dict[str, np.ndarray]:
    """Run the model over a set in eval mode. -> {kp2d_refined, kp3d, focal, center, t} as numpy."""
    was_training = model.training
    model.eval()
    outs: list[tuple[torch.Tensor, ...]] = []
    for i in range(0, len(poses), batch_size):
        kp2d = torch.from_numpy(poses.kp2d[i : i + batch_size]).to(device)
        conf = torch.from_numpy(poses.conf[i : i + batch_size]).to(device)
        outs.append(tuple(o.cpu() for o in model(kp2d, conf)))
    model.train(was_training)
    names = PoseModel.OUTPUT_NAMES
    return {n: torch.cat([o[k] for o in outs]).numpy() for k, n in enumerate(names)}


def pose_metrics(pred3d: np.ndarray, gt3d: np.ndarray) -> dict[str, float]:
    """Headline metrics in mm from metre poses. (N,17,3) x2 -> dict."""
    return metrics.summarize(pred3d * 1000.0, gt3d * 1000.0)


def camera_metrics(pred: dict[str, np.ndarray], poses: PoseSet) -> dict[str, float]:
    """Median relative focal error, median |root depth error| (m and relative to the true depth; also
    relative with the true intrinsics given, t solved as the runtime's --intrinsics does) and the 2D
    refinement gain, where the camera is known."""
    out: dict[str, float] = {}
    cam = poses.has_camera
    if cam.any():
        rel = np.abs(pred["focal"][cam] / poses.focal[cam] - 1)
        out["focal_rel_err"] = float(np.median(rel))
        out["depth_abs_err_m"] = float(np.median(np.abs(pred["t"][cam, 2] - poses.t[cam, 2])))
        out["depth_rel_err"] = float(np.median(np.abs(pred["t"][cam, 2] / poses.t[cam, 2] - 1)))
        # With the true camera (what `run --intrinsics` does): t solved from the predicted pose.
        t_k = solve_translation(pred["kp3d"][cam].astype(np.float64), poses.kp2d[cam].astype(np.float64),
                                poses.conf[cam].astype(np.float64), poses.focal[cam].astype(np.float64),
                                poses.center[cam].astype(np.float64))
        out["depth_rel_err_given_k"] = float(np.median(np.abs(t_k[:, 2] / poses.t[cam, 2] - 1)))
    before = np.linalg.norm(poses.kp2d - poses.kp2d_gt, axis=-1).mean()
    after = np.linalg.norm(pred["kp2d_refined"] - poses.kp2d_gt, axis=-1).mean()
    out["kp2d_err_in"] = float(before)
    out["kp2d_err_refined"] = float(after)
    return out


def evaluate_set(model: PoseModel, poses: PoseSet, device: str | torch.device = "cpu") -> dict[str, float]:
    """All metrics of one model on one set (samples without 3D are skipped for the 3D metrics)."""
    pred = predict(model, poses, device=device)
    res: dict[str, float] = {"n": float(poses.has_3d.sum())}
    if poses.has_3d.any():
        res.update(pose_metrics(pred["kp3d"][poses.has_3d], poses.kp3d[poses.has_3d]))
    res.update(camera_metrics(pred, poses))
    return res


def mean_pose(train: PoseSet, iterations: int = 4, max_samples: int = 50_000) -> np.ndarray:
    """The training set's mean 3D pose, for the mean-pose baseline. -> (17, 3) metres, pelvis at 0.

    A plain mean in the camera frame averages bodies seen from every side into a collapsed shape;
    the generalised Procrustes mean (each pose aligned by rotation, scale and translation to the
    running mean, `iterations` times, over an even subsample of at most `max_samples` poses) is the
    best constant answer for P-MPJPE, so the baseline is a fair one to beat.
    """
    poses = train.kp3d[train.has_3d].astype(np.float64)
    poses = poses[:: max(1, len(poses) // max_samples)]
    mean = poses.mean(0)
    for _ in range(iterations):
        mean = metrics.procrustes_align(poses, np.broadcast_to(mean, poses.shape)).mean(0)
    size = np.sqrt((metrics.root_align(poses) ** 2).sum(-1).mean())
    mean = metrics.root_align(mean)
    return mean * size / np.sqrt((mean**2).sum(-1).mean())


def training_mean_pose(stored: list | None, data: object) -> tuple[np.ndarray | None, str]:
    """The mean pose of a checkpoint's training set (17, 3): the one stored in it, else rebuilt from
    its DataConfig's 2D-3D training data. -> (mean or None, where it came from or why not)."""
    from camerapose.core.errors import CameraPoseError

    from .data import registry

    if stored is not None:
        return np.asarray(stored, dtype=np.float64), f"{data.train_3d}, stored in the checkpoint"
    try:
        train, _ = registry.train_sets(dataclasses.replace(data, train_2d_only=()))
    except CameraPoseError as err:
        return None, str(err)
    if not train.has_3d.any():
        return None, "the training set has no 3D"
    return mean_pose(train), f"{data.train_3d}, {int(train.has_3d.sum())} samples"


def mean_pose_baseline(mean: np.ndarray, test: PoseSet) -> dict[str, float]:
    """Metrics of always predicting `mean` (17,3), the training set's mean pose: what a lifter must
    beat. P-MPJPE aligns it to each sample as it aligns a prediction."""
    return pose_metrics(np.broadcast_to(mean, test.kp3d[test.has_3d].shape), test.kp3d[test.has_3d])


def evaluate_all(model: PoseModel, tests: dict[str, PoseSet], mean: np.ndarray | None,
                 device: str | torch.device = "cpu") -> dict[str, dict[str, float]]:
    """Every test set, and beside each top-level set with 3D a "<set>/mean-pose" row when `mean` is
    given. -> {row name: metrics}."""
    from .data.real import RealSet
    from .real_eval import evaluate_real

    out: dict[str, dict[str, float]] = {}
    for name, poses in tests.items():
        if isinstance(poses, RealSet):
            out.update(evaluate_real(predict(model, poses.poses, device=device), poses))
            poses = poses.poses
        else:
            out[name] = evaluate_set(model, poses, device)
        if mean is not None and "/" not in name and poses.has_3d.any():
            out[f"{name}/mean-pose"] = {"n": float(poses.has_3d.sum()), **mean_pose_baseline(mean, poses)}
    return out


def format_table(results: dict[str, dict[str, float]]) -> str:
    """One Markdown table: a row per test set."""
    cols = ["n", "mpjpe", "p_mpjpe", "n_mpjpe", "pck", "auc", "focal_rel_err", "depth_rel_err",
            "depth_abs_err_m", "depth_rel_err_given_k", "jitter"]
    head = "| set | " + " | ".join(cols) + " |"
    lines = [head, "|" + "---|" * (len(cols) + 1)]
    for name, res in results.items():
        cells = []
        for c in cols:
            v = res.get(c)
            if v is None or not np.isfinite(v):
                cells.append("-")
            else:
                cells.append(f"{int(v)}" if c == "n" else f"{v:.3f}" if v < 10 else f"{v:.1f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
