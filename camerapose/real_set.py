"""The `real` test set: the project's own 2D detector on four calibrated, synchronised real videos,
triangulated into a pseudo-ground-truth 3D, built into the asset cache.

Source: Pose2Sim's `Demo_MultiPerson` (BSD-3): two people filmed by four portrait cameras (1088x1920,
60 fps, 100 frames) with a Qualisys calibration (assets `video/pose2sim_multi_cam0{1..4}.mp4`,
`video/pose2sim_multi_calib.qca.txt`). Steps:

1. detect: BlazePose (the runtime's default detector and its default settings, offline) on every
   frame of every view: per person a track id, 17 H36M joints in pixels, confidences and
   BlazePose's own 3D (its world landmarks);
2. associate: the tracks of one person in several views are grouped by their median epipolar
   distance over the frames they share (`core.triangulate.associate_tracks`);
3. triangulate: per person and frame, left/right label swaps in one view are repaired, then each
   joint is triangulated from the largest set of confident views that agree within a reprojection
   threshold (`core.triangulate.triangulate_robust`), from undistorted 2D;
4. store, per person, view and frame: the detector's 2D, confidences and 3D, the true intrinsics and
   image size, and the triangulated 3D in that camera's frame (NaN for a joint not triangulated).

`build` writes `real/pose2sim_multi.npz` and prints the quality figures (median reprojection error,
bone-length spread per person, joints kept). `camerapose assets fetch --mocap` calls it when the
file is missing or was built from other inputs (its `key`). The set is for evaluation and for
fitting the fusion weights (cross-validated over the cameras); it never trains the lifter.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from camerapose.core.errors import AssetError
from camerapose.core.skeleton import NUM_JOINTS, bone_lengths

log = logging.getLogger(__name__)

VIEWS = ("cam01", "cam02", "cam03", "cam04")
VIDEO = "video/pose2sim_multi_{view}.mp4"
CALIBRATION = "video/pose2sim_multi_calib.qca.txt"
OUTPUT = "real/pose2sim_multi.npz"
MODELS = ("pose_detection.tflite", "pose_landmark_full.tflite")
# Bump when the build changes what it writes: the cache then rebuilds the set.
BUILD_VERSION = 3  # 2: the tracker keeps ids through losses, searches lost people, holds new tracks back;
# 3: ROIs snapped to a grid (runtime/detect/roi.py)
MIN_CONF = 0.3  # a view's joint below this confidence is not used for triangulation
MAX_ERROR_PX = 15.0  # reprojection threshold for a view to agree (1920-pixel frames)
# A triangulated joint farther than this from the median of its 5-frame neighbourhood (1/12 s at
# 60 fps; no body part moves that far) is a bad triangulation (two views agreeing by chance), not
# motion: it is dropped.
MAX_JUMP_M = 0.15


@dataclass
class ViewTracks:
    """One view's detections as tracks: track id -> per-frame arrays (lists until stacked)."""

    size: tuple[int, int] = (0, 0)
    frames: dict[int, list[int]] = field(default_factory=dict)
    uv: dict[int, list[np.ndarray]] = field(default_factory=dict)
    conf: dict[int, list[np.ndarray]] = field(default_factory=dict)
    det3d: dict[int, list[np.ndarray]] = field(default_factory=dict)

    def add(self, frame: int, pid: int, uv: np.ndarray, conf: np.ndarray, det3d: np.ndarray | None) -> None:
        for store, value in ((self.frames, frame), (self.uv, uv), (self.conf, conf),
                             (self.det3d, np.full((NUM_JOINTS, 3), np.nan) if det3d is None else det3d)):
            store.setdefault(pid, []).append(value)

    def arrays(self, pid: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """frames (T,), uv (T,17,2), conf (T,17), det3d (T,17,3) of one track."""
        return (np.asarray(self.frames[pid]), np.stack(self.uv[pid]).astype(np.float64),
                np.stack(self.conf[pid]).astype(np.float64), np.stack(self.det3d[pid]).astype(np.float64))


def detect_video(path: Path) -> ViewTracks:
    """Run the runtime's default detector offline on every frame of a video, read as `run` reads
    it (the sources package). -> its tracks."""
    from camerapose.runtime.detect.base import DetectorConfig
    from camerapose.runtime.detect.registry import create_detector
    from camerapose.runtime.sources import open_source
    from camerapose.runtime.sources.base import CaptureConfig, SourceSpec

    out = ViewTracks()
    with open_source(SourceSpec(str(path)), CaptureConfig(mode="offline")) as source, \
            create_detector(DetectorConfig()) as det:
        while (frame := source.read()) is not None:
            out.size = (frame.image.shape[1], frame.image.shape[0])
            for p in det.detect([frame.image], [frame.t_media])[0]:
                out.add(frame.index, int(p.id), p.kp2d, p.conf, p.det3d)
    return out


def input_key() -> str:
    """sha256 over the build's inputs (videos, calibration, detector models) and BUILD_VERSION."""
    from camerapose.assets import ASSETS

    names = [VIDEO.format(view=v) for v in VIEWS] + [CALIBRATION, *MODELS]
    h = hashlib.sha256(f"real-set/{BUILD_VERSION}".encode())
    for name in names:
        h.update(ASSETS[name].sha256.encode())
    return h.hexdigest()


def is_current(cache: Path) -> bool:
    """Whether the cache holds the set built from the current inputs."""
    path = cache / OUTPUT
    if not path.is_file():
        return False
    try:
        with np.load(path) as z:
            return str(z["key"]) == input_key()
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):  # absent, cut or corrupt
        return False


def ensure(cache: Path, progress: bool = True) -> Path:
    """The set in the cache, built first if it is missing or was built from other inputs."""
    if is_current(cache):
        log.info("%s: present, built from the current inputs", OUTPUT)
        return cache / OUTPUT
    return build(cache, progress)


def build(cache: Path, progress: bool = True) -> Path:
    """Detect, associate, triangulate; write OUTPUT atomically and log the quality figures."""
    from tqdm import tqdm

    from camerapose.assets import asset_path
    from camerapose.core.calibration import projection_matrix, read_calibration

    cams = read_calibration(asset_path(CALIBRATION, cache))
    missing = [v for v in VIEWS if v not in cams]
    if missing:
        raise AssetError(f"{CALIBRATION}: no camera {', '.join(missing)}")
    cams = [cams[v] for v in VIEWS]
    views = [detect_video(asset_path(VIDEO.format(view=v), cache))
             for v in tqdm(VIEWS, desc="real set: detect", unit="view", disable=not progress)]
    P = np.stack([projection_matrix(c) for c in cams])
    rows, qa = triangulate_views(P, cams, views)
    arrays = {k: np.asarray(v) for k, v in rows.items()}
    arrays["key"] = np.asarray(input_key())
    arrays["views"] = np.asarray(VIEWS)
    arrays["qa"] = np.asarray(json.dumps(qa))
    dest = cache / OUTPUT
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".real.", suffix=".npz", dir=dest.parent)
    with os.fdopen(fd, "wb") as f:
        np.savez(f, **arrays)
    os.replace(tmp, dest)
    log.info("real set: %s", quality_line(qa))
    return dest


def quality_line(qa: dict) -> str:
    """The build's quality figures in one line."""
    bones = ", ".join(f"{pid}: {cv:.1f} %" for pid, cv in qa["bone_cv_pct"].items())
    return (f"{qa['rows']} person-views of {qa['persons']} persons; median reprojection error "
            f"{qa['median_reproj_px']:.1f} px; joints kept {qa['joints_kept_pct']:.1f} %; "
            f"bone-length spread (median CV) per person {bones}; swaps repaired {qa['swaps']}")


def triangulate_views(P: np.ndarray, cams: list, views: list[ViewTracks]) -> tuple[dict[str, list], dict]:
    """Associate the views' tracks, triangulate each person per frame, and express the 3D in each
    view's camera frame. P (V,3,4). -> (rows by column, quality figures)."""
    from camerapose.core.calibration import undistort_points
    from camerapose.core.triangulate import associate_tracks, repair_swaps, triangulate_robust

    V = len(views)
    tracks = [{pid: view.arrays(pid)[:3] for pid in view.frames} for view in views]
    groups = associate_tracks(P, tracks)
    cols: dict[str, list] = {k: [] for k in ("view", "frame", "person", "track", "kp2d", "conf", "det3d",
                                             "size", "intrinsics", "gt3d")}
    errors, kept, swaps, bone_cv = [], [], 0, {}
    for person, group in enumerate(g for g in groups if len(g) >= 2):
        by_view = {v: views[v].arrays(pid) for v, pid in group.items()}
        row_of = {v: {int(f): i for i, f in enumerate(a[0])} for v, a in by_view.items()}  # frame -> row
        frames = sorted(set().union(*row_of.values()))
        found = []
        for f in frames:
            uv = np.zeros((V, NUM_JOINTS, 2))
            conf = np.zeros((V, NUM_JOINTS))
            for v, (_, kp, c, _) in by_view.items():
                if (i := row_of[v].get(f)) is not None:
                    uv[v] = undistort_points(cams[v], kp[i])
                    conf[v] = c[i]
            uv, conf, swapped = repair_swaps(P, uv, conf, min_conf=MIN_CONF, max_error_px=MAX_ERROR_PX)
            swaps += int(swapped.any(-1).sum())
            found.append(triangulate_robust(P, uv, conf, min_conf=MIN_CONF, max_error_px=MAX_ERROR_PX))
        world = drop_jumps(np.stack([res.X for res in found]), MAX_JUMP_M)
        for f, X, res in zip(frames, world, found, strict=True):
            ok = np.isfinite(X).all(-1)
            errors.extend(res.error[ok].tolist())
            kept.append(ok)
            for v, (_, kp, c, d3) in by_view.items():
                if (i := row_of[v].get(f)) is None:
                    continue
                cam = cams[v]
                for key, value in (("view", v), ("frame", f), ("person", person), ("track", group[v]),
                                   ("kp2d", kp[i]), ("conf", c[i]), ("det3d", d3[i]),
                                   ("size", (cam.width, cam.height)),
                                   ("intrinsics", (cam.fx, cam.fy, cam.cx, cam.cy)),
                                   ("gt3d", X @ cam.R.T + cam.t)):
                    cols[key].append(value)
        bone_cv[str(person)] = _bone_cv(world)
    qa = {"rows": len(cols["view"]), "persons": len(bone_cv),
          "median_reproj_px": float(np.median(errors)) if errors else float("nan"),
          "joints_kept_pct": 100.0 * float(np.mean(np.concatenate(kept))) if kept else 0.0,
          "bone_cv_pct": bone_cv, "swaps": swaps}
    return cols, qa


def drop_jumps(world: np.ndarray, max_jump: float, half: int = 2) -> np.ndarray:
    """Joints farther than max_jump from the median of their (2 half + 1)-frame neighbourhood set to
    NaN. world (T, 17, 3) consecutive frames -> a copy (T, 17, 3)."""
    out = world.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a joint NaN in the whole window stays NaN
        for i in range(len(world)):
            med = np.nanmedian(world[max(0, i - half) : i + half + 1], 0)
            out[i, np.linalg.norm(world[i] - med, axis=-1) > max_jump] = np.nan
    return out


def _bone_cv(world: np.ndarray) -> float:
    """Median over the long bones (mean length over 20 cm: thigh, shin, upper arm, forearm, spine) of
    the bone length's coefficient of variation over frames (%). (T,17,3)."""
    length = bone_lengths(world)  # (T, 16), NaN where a joint is
    mean = np.nanmean(length, 0)
    cv = np.nanstd(length, 0) / mean
    return float(100.0 * np.nanmedian(cv[mean > 0.2]))
