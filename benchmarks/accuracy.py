"""Accuracy benchmark: `camerapose eval` of the default model on the configured test sets, beside the
mean-pose baseline, as a table, JSON and a per-joint error plot; and the demo video's 3D report.

    camerapose bench --suite accuracy [--config train/configs/paper.toml]
    -> benchmarks/results/accuracy.md, accuracy.json, accuracy_per_joint.png, accuracy_real.png

The model is the shipped export (engines/models/pose_default.onnx), run through the engines runner
the runtime would pick (`--backend`, default auto: onnxruntime on a CPU machine), and the checkpoint
it was exported from (train/weights/default.pt) through torch, so the table also shows that the
export loses nothing. The test sets are those of the checkpoint's stored training config or of
`config`, plus "mocap" (real motion capture, `train/data/mocap_sets.py`) whenever its clips are
fetched. The mean-pose baseline always predicts the training set's mean 3D pose: the number a
lifter must beat. The `real` set (real calibrated footage, triangulated 3D; `train/real_eval.py`)
gets its own section whenever it is built: what the runtime publishes (the shipped export + the
lift stage's steps) beside BlazePose's own 3D and the lifter alone, per camera. The demo video has
no ground truth: its section compares our 3D with BlazePose's own and reports bone-length
stability, jitter and depth (`benchmarks/demo3d.py`).

This suite needs torch (the `train` extra): the checkpoint and the training config are torch-side.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import numpy as np

from camerapose.benchmarks.report import RESULTS_DIR, Report, latency_stats, pyplot
from camerapose.core.errors import CameraPoseError

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parent.parent
DEFAULT_ONNX = REPO / "engines" / "models" / "pose_default.onnx"
DEFAULT_CKPT = REPO / "train" / "weights" / "default.pt"
QUICK_TEST, QUICK_TRAIN = 2000, 20_000  # synthetic samples in quick mode (test set, baseline mean)
CHUNK = 4096  # samples per engine call
METRICS = [("mpjpe", "MPJPE"), ("p_mpjpe", "P-MPJPE"), ("n_mpjpe", "N-MPJPE"), ("pck", "PCK@150"),
           ("auc", "AUC"), ("focal_rel_err", "focal rel. err"), ("depth_rel_err", "root depth rel. err"),
           ("depth_abs_err_m", "root depth err (m)"),
           ("depth_rel_err_given_k", "root depth rel. err, true K")]


def _require_torch() -> Any:
    try:
        import torch
    except ImportError:
        raise CameraPoseError("the accuracy suite needs torch (the train extra): pip install torch==2.13.0, "
                              "then pip install -e '.[train]'") from None
    return torch


def _config(config: Path | None, stored: dict[str, Any] | None, quick: bool) -> Any:
    """The TrainConfig naming the test sets: `config`, else the checkpoint's own, else default.toml.
    Quick mode shrinks the synthetic splits; the 2D-only split is never needed here."""
    from camerapose.core.config import build, layers
    from camerapose.train.config import CONFIG_DIR, TrainConfig, load_config

    over = ["data.synthetic.n_2d_only=0", "data.train_2d_only=[]"]
    if quick:
        over += [f"data.synthetic.n_test={QUICK_TEST}", f"data.synthetic.n_train={QUICK_TRAIN}",
                 "data.mocap_cameras=1"]
    if config is None and stored:
        cfg = build(TrainConfig, [(str(DEFAULT_CKPT), stored), *layers(sets=over)])
    else:
        cfg = load_config(config or CONFIG_DIR / "default.toml", over)
    # Real motion is always evaluated beside what the config names, when its clips are fetched.
    from camerapose.train.data import mocap

    test = tuple(cfg.data.test)
    if "mocap" not in test and mocap.available():
        test += ("mocap",)
    return dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, test=test))


def _engine_predict(runner: Any, poses: Any) -> dict[str, np.ndarray]:
    """The runner over a PoseSet in chunks. -> {kp2d_refined (N,17,2), kp3d (N,17,3), focal, center, t}."""
    outs = [runner.infer({"kp2d": poses.kp2d[i : i + CHUNK], "conf": poses.conf[i : i + CHUNK]})
            for i in range(0, len(poses), CHUNK)]
    return {k: np.concatenate([o[k] for o in outs]) for k in outs[0]}


def _score(pred3d: np.ndarray, poses: Any, pred: dict[str, np.ndarray] | None) -> dict[str, Any]:
    """Headline metrics (mm), camera errors (when `pred` has the camera outputs), per-joint MPJPE (17,)
    and the distribution of per-sample MPJPE. pred3d (M,17,3) metres, M = samples with 3D."""
    from camerapose.core import metrics
    from camerapose.train.evaluate import camera_metrics, pose_metrics

    gt = poses.kp3d[poses.has_3d]
    res: dict[str, Any] = {"n": len(gt), **pose_metrics(pred3d, gt)}
    if pred is not None:
        res.update(camera_metrics(pred, poses))
    errors = metrics.joint_errors(pred3d * 1000.0, gt * 1000.0, "root")  # (M, 17) mm
    res["per_joint_mpjpe"] = metrics.per_joint(errors).tolist()
    res["per_sample_mpjpe"] = latency_stats(errors.mean(-1))
    return res


def _evaluate(poses: Any, runner: Any, model: Any, mean_pose: np.ndarray | None) -> dict[str, dict]:
    """Engine, checkpoint and baseline scores on one set, plus the export's largest 3D deviation."""
    from camerapose.train.evaluate import predict

    has = poses.has_3d
    engine, ckpt = _engine_predict(runner, poses), predict(model, poses)
    out = {"engine": _score(engine["kp3d"][has], poses, engine),
           "checkpoint": _score(ckpt["kp3d"][has], poses, ckpt)}
    if mean_pose is not None:
        out["baseline"] = _score(np.broadcast_to(mean_pose, poses.kp3d[has].shape), poses, None)
    out["engine"]["max_abs_diff_vs_checkpoint_mm"] = float(np.abs(engine["kp3d"] - ckpt["kp3d"]).max() * 1e3)
    return out


def run(quick: bool = False, out_dir: Path = RESULTS_DIR, config: Path | None = None,
        backend: str = "auto") -> Report:
    """Evaluate the default model (ONNX through `backend`, and its checkpoint) on every configured
    test set; quick mode evaluates 2000 synthetic samples."""
    torch = _require_torch()
    from camerapose.engines.select import create_runner
    from camerapose.models.checkpoint import load_pose_model
    from camerapose.train.data import registry
    from camerapose.train.evaluate import training_mean_pose

    for path in (DEFAULT_ONNX, DEFAULT_CKPT):
        if not path.is_file():
            raise CameraPoseError(f"{path} is missing: train and export the default model first")
    model, info = load_pose_model(DEFAULT_CKPT)
    cfg = _config(Path(config) if config else None, info["configs"].get("train"), quick)
    tests = registry.test_sets(cfg.data)
    if not tests:
        raise CameraPoseError("no test sets configured (data.test is empty)")
    mean_pose, baseline_from = training_mean_pose(info["mean_pose"], cfg.data)
    threads = torch.get_num_threads()
    if cfg.run.threads > 0:  # as in training: on a shared 2-core machine one thread is faster
        torch.set_num_threads(cfg.run.threads)
    try:
        with create_runner(DEFAULT_ONNX, "auto" if backend == "all" else backend) as runner:
            engine = type(runner).__name__.removesuffix("Runner").lower()  # onnxruntime, torch, tensorrt
            results = {name: _evaluate(poses, runner, model, mean_pose) for name, poses in tests.items()
                       if name != "real"}
            real = _real_rows(runner)
    finally:
        torch.set_num_threads(threads)
    labels = {"engine": f"{DEFAULT_ONNX.name} ({engine})", "checkpoint": f"{DEFAULT_CKPT.name} (torch)",
              "baseline": "mean-pose baseline"}
    source = str(config) if config else "the checkpoint's training config"
    rep = _report(results, labels, {"config": source, "baseline_from": baseline_from, "quick": quick,
                                    "sizes": {k: len(v) for k, v in tests.items() if k != "real"}})
    _add_real(rep, real, labels["engine"])
    _add_demo(rep, quick)
    return rep


REAL_COLS = [("n", "n"), ("p_mpjpe", "P-MPJPE"), ("mpjpe", "MPJPE"), ("focal_rel_err", "focal rel. err"),
             ("depth_rel_err", "root depth rel. err"), ("depth_rel_err_given_k", "same, true K"),
             ("jitter", "jitter (m/s²)")]


def _real_rows(runner: Any) -> dict[str, dict] | str:
    """The real set's rows through the engine (`train/real_eval.py`), or why they are not measured."""
    from camerapose.train.data.real import default_path, load_real
    from camerapose.train.real_eval import evaluate_real

    if not default_path().is_file():
        return f"{default_path()} is missing: `camerapose assets fetch --mocap` builds it"
    real = load_real()
    return evaluate_real(_engine_predict(runner, real.poses), real)


def _add_real(rep: Report, rows: dict[str, dict] | str, engine: str) -> None:
    """The real-footage section: a table of every row and a bar chart per camera."""
    if isinstance(rows, str):
        rep.add_text(f"### Real footage\n\nNot measured: {rows}")
        return
    rep.add_text(
        "### Real footage: four calibrated cameras, triangulated 3D (`real`)\n\n"
        f"Pose2Sim's multi-person demo, the runtime's own 2D detector on every view, 3D triangulated "
        f"from all four (`camerapose/real_set.py`). `real` is what the runtime publishes ({engine} + "
        "the lift stage's steps: fusion with BlazePose's 3D, root solve, steady camera, One-Euro, bone "
        "lengths), its fusion weights fitted on the other cameras only; `real/detector-3d` is "
        "BlazePose's own 3D (what MediaPipe reports as world landmarks), `real/lifter` our lifter "
        "alone, `real/no-*` the published pose with one step off. mm over the 15 joints the "
        "triangulation defines as we do (not Neck/Nose and Head); focal and root depth errors are "
        "medians, relative; jitter is the root-relative joints' mean acceleration.")
    table = [[name, *(res.get(k, "-") for k, _ in REAL_COLS)] for name, res in rows.items()]
    rep.add_table("Real footage", ["row", *(title for _, title in REAL_COLS)], table)
    rep.add_plot("accuracy_real.png", _plot_real(rows))
    rep.data["real"] = rows


def _plot_real(rows: dict[str, dict]) -> Any:
    """P-MPJPE per camera: the published pose beside BlazePose's 3D and the lifter alone."""
    plt = pyplot()
    cams = sorted({k.split("/")[1] for k in rows if k.startswith("real/cam")})
    fig, ax = plt.subplots(figsize=(8, 3.6))
    x = np.arange(len(cams) + 1)
    series = [("published (ours)", "real/{}", "real"),
              ("BlazePose 3D", "real/{}/detector-3d", "real/detector-3d")]
    for i, (label, per_cam, whole) in enumerate(series):
        vals = [rows[per_cam.format(c)]["p_mpjpe"] for c in cams] + [rows[whole]["p_mpjpe"]]
        bars = ax.bar(x + (i - 0.5) * 0.4, vals, 0.4, label=label)
        ax.bar_label(bars, fmt="%.1f", fontsize=7)
    ax.set_xticks(x, [*cams, "all"])
    ax.set_ylabel("P-MPJPE (mm)")
    ax.set_title("Real footage: P-MPJPE per camera (lower is better)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def _add_demo(rep: Report, quick: bool) -> None:
    """The demo video's 3D report (no ground truth: BlazePose's own 3D, bone lengths, jitter, depth)."""
    from camerapose.assets import asset_path
    from camerapose.benchmarks.demo3d import demo_3d_report

    try:
        asset_path("demo.mp4")
    except CameraPoseError as err:
        rep.add_text(f"### Demo video\n\nNot measured: {err}")
        return
    demo = demo_3d_report(DEFAULT_ONNX, max_frames=60 if quick else None, min_frames=20 if quick else 30)
    rep.add_text("### Demo video: our 3D beside BlazePose's own, bone lengths, jitter, depth\n\n"
                 + demo["markdown"])
    rep.data["demo"] = {k: v for k, v in demo.items() if k != "markdown"}


def _report(results: dict[str, dict[str, dict]], labels: dict[str, str], meta: dict[str, Any]) -> Report:
    from camerapose.core.skeleton import Joint

    rep = Report("accuracy", "Accuracy: the default model on the configured test sets")
    sizes = ", ".join(f"{k} ({v} samples)" for k, v in meta["sizes"].items())
    rep.add_text(
        f"Test sets from {meta['config']}: {sizes}{' -- QUICK run, few samples' if meta['quick'] else ''}. "
        f"Models: the shipped export through the engines runner, {labels['engine']}, and the weights it "
        f"was exported from, {labels['checkpoint']}. Errors in mm after root alignment "
        "(MPJPE), Procrustes (P-MPJPE) or scale (N-MPJPE); PCK@150 mm (strict <) and AUC over "
        f"0..150 mm. Mean-pose baseline: the training set's mean 3D pose ({meta['baseline_from']}).")
    rows, spread = [], []
    for name, by in results.items():
        for key, res in by.items():
            rows.append([name, labels[key], res["n"], *(res.get(k, "-") for k, _ in METRICS)])
            st = res["per_sample_mpjpe"]
            spread.append([name, labels[key], st["p50"], st["p95"], st["p99"], st["max"]])
    rep.add_table("Accuracy", ["set", "model", "n", *(title for _, title in METRICS)], rows)
    rep.add_table("Per-sample MPJPE (mm)", ["set", "model", "median", "p95", "p99", "max"], spread)
    parity = [[name, f"{by['engine']['max_abs_diff_vs_checkpoint_mm']:.4f}"] for name, by in results.items()]
    rep.add_table("Export check: largest |engine - checkpoint| 3D joint difference (mm)", ["set", "mm"],
                  parity)
    cols, joint_rows = [], [[j.name.lower()] for j in Joint]
    for name, by in results.items():
        for key in ("engine", "baseline"):
            if key in by:
                cols.append(f"{name}: {'model' if key == 'engine' else 'baseline'}")
                for row, v in zip(joint_rows, by[key]["per_joint_mpjpe"], strict=True):
                    row.append(v)
    rep.add_table("Per-joint MPJPE (mm)", ["joint", *cols], joint_rows)
    rep.add_plot("accuracy_per_joint.png", _plot({k: v for k, v in results.items() if "/" not in k}, labels))
    rep.data.update({"results": results, "models": labels, **meta})
    return rep


def _plot(results: dict[str, dict[str, dict]], labels: dict[str, str]) -> Any:
    """Per-joint MPJPE bars, model beside baseline, one panel per test set."""
    from camerapose.core.skeleton import Joint

    plt = pyplot()
    fig, axes = plt.subplots(len(results), 1, figsize=(10, 3.6 * len(results)), squeeze=False)
    x = np.arange(len(Joint))
    for ax, (name, by) in zip(axes[:, 0], results.items(), strict=True):
        shown = [k for k in ("engine", "baseline") if k in by]
        width = 0.8 / len(shown)
        for i, key in enumerate(shown):
            res = by[key]
            ax.bar(x + (i - (len(shown) - 1) / 2) * width, res["per_joint_mpjpe"], width,
                   label=f"{labels[key]}: MPJPE {res['mpjpe']:.1f} mm")
        ax.set_xticks(x, [j.name.lower() for j in Joint], rotation=45, ha="right", fontsize=8)
        ax.set_ylabel("MPJPE (mm)")
        ax.set_title(f"per-joint error, {name} test set ({by['engine']['n']} samples)")
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
