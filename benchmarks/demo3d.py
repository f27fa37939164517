"""3D quality on the demo video, with no ground truth: our lifted 3D beside BlazePose's own.

    report = demo_3d_report("engines/models/pose_default.onnx")   # -> dict, report["markdown"]
    teacher = extract_teacher(video)                             # -> per person-frame arrays
    save_teacher("demo_teacher.npz", teacher)

One offline pass of the runtime's 2D stage (the BlazePose backend with its default config, on
every frame, timestamps frame_index / fps: the same result on every run) gives per person-frame
the keypoints as the lift stage gets them and BlazePose's world landmarks (`Person2D.det3d`:
metres, pelvis at 0, camera orientation). The runtime's lift math (`runtime.lift_engine.LiftEngine`, default
One-Euro smoothing, onnxruntime unless told otherwise) then lifts them frame by frame, as the lift
stage would. Per track seen on at least `min_frames` frames:

- distance to BlazePose's 3D: per joint, between our root-relative pose (the published kp3d minus
  its pelvis) and the world landmarks, raw (both in the camera's orientation) and after per-frame
  Procrustes with scale (PA), mm; the mean over the 17 joints counts the pelvis (0 by
  construction) and the head, where the definitions differ: our joint 10 is H36M's head top,
  BlazePose's the midpoint of the eyes (~0.1 m lower), so that joint never reaches 0;
- bone-length variation: per bone std / mean over the frames, mean over the 16 bones, in %, for
  our 3D and for BlazePose's side by side (a person's bones do not change length);
- jitter: mean joint acceleration (m/s^2, second differences on the timestamps, frames next to
  a gap in the track left out) of our absolute 3D, of our root-relative 3D and of BlazePose's;
- root depth t_z as published (camera.t: the stream's steady camera, smoothed per track): median,
  and p95 - p5 in metres (a person standing still must not drift by metres; the demo's people
  move, so their range is partly motion).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from itertools import pairwise
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from camerapose.core.errors import InputError
from camerapose.core.metrics import bone_length_cv, jitter, joint_errors
from camerapose.core.skeleton import NUM_JOINTS, Joint

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = REPO / "engines" / "models" / "pose_default.onnx"
MIN_TRACK_FRAMES = 30
STREAM = "demo"
TEACHER_KEYS = ("frame", "t", "track", "kp2d", "conf", "size", "det3d", "fps", "video_frames")
GAP_FACTOR = 1.5  # a step longer than this many frame intervals is a gap in a track


# -- the detection pass --------------------------------------------------------------------------
def extract_teacher(video_path: str | Path, max_frames: int | None = None, cache: str | Path | None = None,
                    ) -> dict[str, np.ndarray]:
    """Every frame of a video through the BlazePose detector (runtime defaults, offline).

    -> per detected person-frame, in frame order (N rows): frame (N,) int64; t (N,) float64
    seconds = frame / fps; track (N,) int64 track id; kp2d (N, 17, 2) float32 pixels as the
    detector hands them to the lifter (tracked, One-Euro smoothed); conf (N, 17) float32;
    size (N, 2) int32 frame (width, height); det3d (N, 17, 3) float32 BlazePose's 3D (metres,
    pelvis at 0, x right, y down, z away from the camera; unsmoothed); and two scalars (0-d):
    fps float64 and video_frames int64 (frames read, persons or not).
    `cache`: the asset cache holding the two .tflite models (default: `camerapose assets` cache).
    """
    from camerapose.assets import asset_path
    from camerapose.runtime.detect.base import DetectorConfig
    from camerapose.runtime.detect.registry import create_detector

    path = Path(video_path)
    if not path.is_file():
        raise InputError(f"{path}: no such video file")
    if max_frames is not None and max_frames < 0:
        raise InputError(f"max_frames must be >= 0, got {max_frames}")
    cfg = DetectorConfig(detector_model=str(asset_path("pose_detection.tflite", cache)),
                         landmark_model=str(asset_path("pose_landmark_full.tflite", cache)))
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise InputError(f"{path}: cannot decode this file as a video")
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 30.0)
    rows: dict[str, list[Any]] = defaultdict(list)
    n = 0
    try:
        with create_detector(cfg) as det:
            while max_frames is None or n < max_frames:
                ok, frame = cap.read()
                if not ok:
                    break
                t = n / fps
                for p in det.detect([frame], [t], [STREAM])[0]:
                    if p.det3d is None:  # pragma: no cover - the BlazePose backend always has it
                        continue
                    for key, val in (("frame", n), ("t", t), ("track", p.id), ("kp2d", p.kp2d),
                                     ("conf", p.conf), ("size", frame.shape[1::-1]),
                                     ("det3d", p.det3d)):
                        rows[key].append(val)
                n += 1
    finally:
        cap.release()
    if n == 0:
        raise InputError(f"{path}: no frame could be decoded")
    log.info("%s: %d frames, %d person-frames", path, n, len(rows["frame"]))
    return _teacher_arrays(rows, fps, n)


def _teacher_arrays(rows: dict[str, list[Any]], fps: float, frames: int) -> dict[str, np.ndarray]:
    """Collected rows -> the typed arrays of `extract_teacher` (empty but well-shaped if none)."""
    spec = {"frame": (np.int64, ()), "t": (np.float64, ()), "track": (np.int64, ()),
            "kp2d": (np.float32, (NUM_JOINTS, 2)), "conf": (np.float32, (NUM_JOINTS,)),
            "size": (np.int32, (2,)), "det3d": (np.float32, (NUM_JOINTS, 3))}
    out = {k: np.asarray(rows[k], dt).reshape(-1, *shape) for k, (dt, shape) in spec.items()}
    out["fps"] = np.asarray(fps, np.float64)
    out["video_frames"] = np.asarray(frames, np.int64)
    return out


def save_teacher(path: str | Path, teacher: dict[str, np.ndarray]) -> Path:
    """Write `extract_teacher`'s arrays to a compressed .npz (plain arrays: loads without pickle)."""
    missing = [k for k in TEACHER_KEYS if k not in teacher]
    if missing:
        raise InputError(f"teacher set: missing arrays {missing}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **{k: np.asarray(teacher[k]) for k in TEACHER_KEYS})
    return path


def load_teacher(path: str | Path) -> dict[str, np.ndarray]:
    """Read a `save_teacher` file back (allow_pickle=False), checking its keys and row counts."""
    try:
        with np.load(Path(path), allow_pickle=False) as z:
            out = {k: z[k] for k in z.files}
    except (OSError, ValueError) as err:
        raise InputError(f"{path}: not a readable teacher .npz ({err})") from None
    missing = [k for k in TEACHER_KEYS if k not in out]
    counts = {len(out[k]) for k in TEACHER_KEYS if k in out and out[k].ndim}
    if missing or len(counts) > 1:
        raise InputError(f"{path}: not a teacher set (missing {missing}, row counts {sorted(counts)})")
    return out


# -- lifting -----------------------------------------------------------------------------------
def lift_teacher(teacher: dict[str, np.ndarray], model: str | Path = DEFAULT_MODEL,
                 backend: str = "onnxruntime") -> dict[str, np.ndarray]:
    """Lift every person-frame as the lift stage does: one call per frame, per-track One-Euro.

    -> kp3d (N, 17, 3) float32 absolute metres, camera frame, smoothed (what `kp3d` publishes);
    t (N, 3) float32 the published root translation (camera.t: smoothed per track, = kp3d[:, 0]).
    """
    from camerapose.runtime.lift_engine import LiftConfig, LiftEngine, LiftItem

    n = len(teacher["frame"])
    kp3d, root = np.zeros((n, NUM_JOINTS, 3), np.float32), np.zeros((n, 3), np.float32)
    if n == 0:
        return {"kp3d": kp3d, "t": root}
    lifter = LiftEngine(LiftConfig(model=str(model), backend=backend))
    try:
        starts = np.flatnonzero(np.r_[True, np.diff(teacher["frame"]) != 0, True])
        for a, b in pairwise(starts):  # rows of one frame
            items = [LiftItem(STREAM, int(teacher["frame"][i]), float(teacher["t"][i]),
                              tuple(int(s) for s in teacher["size"][i]), int(teacher["track"][i]),
                              teacher["kp2d"][i], teacher["conf"][i]) for i in range(a, b)]
            for i, pose in zip(range(a, b), lifter.lift(items), strict=True):
                kp3d[i], root[i] = pose.kp3d, pose.t
    finally:
        lifter.close()
    return {"kp3d": kp3d, "t": root}


# -- metrics ------------------------------------------------------------------------------------
def track_metrics(ours_abs: np.ndarray, t_root: np.ndarray, world: np.ndarray, times: np.ndarray,
                  max_dt: float) -> dict[str, Any]:
    """One track's figures. ours_abs (T, 17, 3) absolute metres; t_root (T, 3); world (T, 17, 3)
    BlazePose's, pelvis at 0; times (T,) seconds; max_dt: longest step that is not a gap."""
    rel = ours_abs - ours_abs[:, :1]
    raw = joint_errors(rel, world, "none") * 1e3  # (T, 17) mm; both already pelvis-centred
    pa = joint_errors(rel, world, "procrustes") * 1e3
    tz = t_root[:, 2].astype(np.float64)
    return {
        "frames": len(times),
        "dist_raw_mm": float(raw.mean()),
        "dist_pa_mm": float(pa.mean()),
        "per_joint_raw_mm": raw.mean(0).tolist(),
        "per_joint_pa_mm": pa.mean(0).tolist(),
        "bone_cv_pct": float(bone_length_cv(rel).mean() * 100),
        "bone_cv_blazepose_pct": float(bone_length_cv(world).mean() * 100),
        "jitter_abs": jitter(ours_abs, times, max_dt),
        "jitter_rel": jitter(rel, times, max_dt),
        "jitter_blazepose": jitter(world, times, max_dt),
        "tz_median_m": float(np.median(tz)),
        "tz_range_m": float(np.percentile(tz, 95) - np.percentile(tz, 5)),
    }


def demo_3d_report(model: str | Path = DEFAULT_MODEL, cache: str | Path | None = None,
                   max_frames: int | None = None, min_frames: int = MIN_TRACK_FRAMES,
                   backend: str = "onnxruntime") -> dict[str, Any]:
    """The demo video's 3D report (module docstring) for a pose ONNX.

    -> {"video", "model", "frames", "fps", "min_frames", "tracks": [per-track figures with "id",
    "first_frame", "last_frame"], "per_joint": {"joints", "raw_mm", "pa_mm"} (over the frames of
    all reported tracks, for a plot), "markdown"}; plain Python values (JSON-able).
    """
    from camerapose.assets import asset_path

    model = Path(model)
    if not model.is_file():
        raise InputError(f"pose model {model} is missing (export one with `camerapose export`)")
    video = asset_path("demo.mp4", cache)
    teacher = extract_teacher(video, max_frames, cache)
    lifted = lift_teacher(teacher, model, backend)
    fps = float(teacher["fps"])
    tracks, raw_all, pa_all = [], [], []
    for tid in np.unique(teacher["track"]):
        idx = np.flatnonzero(teacher["track"] == tid)
        if len(idx) < max(min_frames, 3):
            continue
        m = track_metrics(lifted["kp3d"][idx], lifted["t"][idx], teacher["det3d"][idx],
                          teacher["t"][idx], GAP_FACTOR / fps)
        tracks.append({"id": int(tid), "first_frame": int(teacher["frame"][idx[0]]),
                       "last_frame": int(teacher["frame"][idx[-1]]), **m})
        raw_all.append(np.asarray(m["per_joint_raw_mm"]) * len(idx))
        pa_all.append(np.asarray(m["per_joint_pa_mm"]) * len(idx))
    total = sum(t["frames"] for t in tracks)
    names = [Joint(j).name.lower() for j in range(NUM_JOINTS)]
    per_joint = {"joints": names,
                 "raw_mm": (np.sum(raw_all, 0) / total).tolist() if total else [],
                 "pa_mm": (np.sum(pa_all, 0) / total).tolist() if total else []}
    report = {"video": str(video), "model": str(model), "frames": int(teacher["video_frames"]), "fps": fps,
              "min_frames": min_frames, "tracks": tracks, "per_joint": per_joint}
    report["markdown"] = markdown(report)
    return report


def markdown(report: dict[str, Any]) -> str:
    """The report's per-track table (and the per-joint distances pooled over tracks)."""
    lines = [
        f"Demo video, {report['frames']} frames at {report['fps']:g} fps; model "
        f"`{Path(report['model']).name}`; tracks seen on >= {report['min_frames']} frames.",
        "",
        "| track | frames | to BlazePose 3D, mm (raw / PA) | bone-length CV %, ours / BlazePose "
        "| jitter m/s², abs / rel / BlazePose | t_z median, m | t_z p95-p5, m |",
        "|---|---|---|---|---|---|---|",
    ]
    for t in report["tracks"]:
        lines.append(
            f"| {t['id']} ({t['first_frame']}-{t['last_frame']}) | {t['frames']} "
            f"| {t['dist_raw_mm']:.0f} / {t['dist_pa_mm']:.0f} "
            f"| {t['bone_cv_pct']:.1f} / {t['bone_cv_blazepose_pct']:.1f} "
            f"| {t['jitter_abs']:.2f} / {t['jitter_rel']:.2f} / {t['jitter_blazepose']:.2f} "
            f"| {t['tz_median_m']:.2f} | {t['tz_range_m']:.2f} |")
    if not report["tracks"]:
        lines.append("| (no track long enough) | | | | | | |")
    pj = report["per_joint"]
    if pj["raw_mm"]:
        lines += ["", "Per joint, mm (raw / PA): " + ", ".join(
            f"{n} {r:.0f}/{p:.0f}" for n, r, p in zip(pj["joints"], pj["raw_mm"], pj["pa_mm"], strict=True))]
    return "\n".join(lines) + "\n"
