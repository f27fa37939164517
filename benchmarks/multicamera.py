"""Multi-camera benchmark: the fuse stage (`run --calibration`, the world stream) on real footage.

    camerapose bench --suite multicamera
    -> benchmarks/results/multicamera.md, multicamera.json, multicamera.png

The four portrait views of Pose2Sim's multi-person demo (`video/pose2sim_multi_cam0{1..4}.mp4`,
1088x1920, 60 fps, 100 frames, two people walking around each other) with their Qualisys
calibration (`pose2sim_multi_calib.qca.txt`, world z up, metres) run through the whole runtime
offline: `camerapose run --source cam01=... (x4) --calibration CALIB --every-frame --save run.jsonl`,
every stage in its own process, the fuse stage between lift and publish. The saved messages (what a
subscriber gets) are then measured (`analyse`, pure):

- the fuse stage's time per world frame: `timings["fuse"]` of the world messages (association,
  triangulation, fill, smoothing of one moment of all four cameras), ms p50 / p95; offline every
  stage of the four streams shares the CPU with it, so the same fuse (`core.fuse.Fuser`, the
  runtime's [fuse] settings) is also timed alone in this process on the saved camera messages
  (`fuse_alone`), which also checks that it gives the published world poses back;
- world ids: how many, and the share of world frames each is in (coverage);
- reprojection error of the triangulated joints (views >= 2: the published `reproj_px`, pixels),
  median and p90, also per number of views;
- bone-length variation per world id: the coefficient of variation over the frames of each long bone
  (mean length over LONG_BONE_M: thighs, shins, upper arms, forearms, spine), median over them;
- joints filled from a monocular pose (views 0) and single-view persons (one camera alone saw them);
- the single-view poses against the fused ones: each camera's published kp3d (its own frame) carried
  into the world frame with the calibration's extrinsics (X_world = R^T (X_cam - t)), and compared
  with the world person it belongs to (the `tracks` map: stream -> that camera's track id), on the
  joints the fuse stage triangulated (views >= 2): the pelvis's distance (where the camera alone
  puts the person: mostly depth), the absolute joint error (no alignment), MPJPE (pelvis aligned)
  and P-MPJPE (Procrustes: rotation, scale, translation), per camera; and what makes the pelvis
  distance: the single view's size (the spread of its joints about their mean) and its pelvis depth
  in the camera, each over the fused pose's (ratios). The world pose is no ground
  truth: it is triangulated from the same 2D detections the single views lifted, so this measures
  how far one camera's 3D is from what four cameras agree on;
- where the `real` set is in the cache (`camerapose/real_set.py`: the same videos' 2D triangulated
  offline over all frames, robustly), the world poses against it, per joint both have.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from camerapose.benchmarks.report import RESULTS_DIR, Report, free_port, latency_stats, pyplot
from camerapose.core.errors import CameraPoseError
from camerapose.core.metrics import procrustes_align
from camerapose.core.skeleton import BONES, Joint, bone_lengths

log = logging.getLogger(__name__)

VIEWS = ("cam01", "cam02", "cam03", "cam04")
VIEW_VIDEO = "video/pose2sim_multi_{view}.mp4"
CALIBRATION = "video/pose2sim_multi_calib.qca.txt"
FETCH_HINT = "run `camerapose assets fetch --mocap`"
QUICK_FRAMES = 30  # quick mode: each view's first frames only (as image folders)
LONG_BONE_M = 0.2  # a bone whose mean length is over this counts as long (limbs, spine)
MIN_JOINTS = 8  # a single-view pose is compared on at least this many triangulated joints
REAL_MATCH_M = 0.5  # a world person and a real-set person are the same when their pelvises are this close


# -- the analysis (pure: decoded messages in, figures out) -------------------------------------------------
def is_world(msg: Mapping[str, Any]) -> bool:
    return msg.get("kind") == "world"


def fuse_latency(world: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """latency_stats of the world messages' `timings["fuse"]` (ms per world frame)."""
    return latency_stats([m["timings"]["fuse"] for m in world if "fuse" in m["timings"]])


def world_ids(world: Sequence[Mapping[str, Any]]) -> dict[int, dict[str, Any]]:
    """Per world id: frames it is in, its share of the world frames, first and last frame."""
    frames: dict[int, list[int]] = {}
    for m in world:
        for p in m["persons"]:
            frames.setdefault(int(p["id"]), []).append(int(m["frame"]))
    n = max(len(world), 1)
    return {pid: {"frames": len(fs), "coverage": len(fs) / n, "first": min(fs), "last": max(fs)}
            for pid, fs in sorted(frames.items())}


def reprojection(world: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Reprojection error (px) of the triangulated joints (views >= 2): n, median, p90, and the same
    per number of views."""
    views = np.concatenate([np.asarray(p["views"]) for m in world for p in m["persons"]] or [np.zeros(0)])
    err = np.concatenate([np.asarray(p["reproj_px"]) for m in world for p in m["persons"]] or [np.zeros(0)])

    def stats(mask: np.ndarray) -> dict[str, float]:
        e = err[mask]
        if e.size == 0:
            return {"n": 0, "median": float("nan"), "p90": float("nan")}
        return {"n": int(e.size), "median": float(np.median(e)), "p90": float(np.percentile(e, 90))}

    out = stats(views >= 2)
    out["by_views"] = {int(k): stats(views == k) for k in sorted(set(views[views >= 2].astype(int)))}
    return out


def bone_variation(world: Sequence[Mapping[str, Any]]) -> dict[int, dict[str, Any]]:
    """Per world id (seen in 2 frames or more): each bone's coefficient of variation of length over
    its frames (16, in BONES order), its mean length, and the median CV of the long bones."""
    poses: dict[int, list[np.ndarray]] = {}
    for m in world:
        for p in m["persons"]:
            poses.setdefault(int(p["id"]), []).append(np.asarray(p["kp3d"], np.float64))
    out = {}
    for pid, kp in sorted(poses.items()):
        if len(kp) < 2:
            continue
        lengths = bone_lengths(np.stack(kp))
        mean = lengths.mean(0)
        cv = np.where(mean > 0, lengths.std(0) / np.where(mean > 0, mean, 1.0), 0.0)
        long = mean > LONG_BONE_M
        out[pid] = {"median_cv_long": float(np.median(cv[long])) if long.any() else float("nan"),
                    "long_bones": [_bone_name(i) for i in np.flatnonzero(long)],
                    "cv": cv.tolist(), "mean_m": mean.tolist()}
    return out


def _bone_name(i: int) -> str:
    from camerapose.runtime.files.tracks import JOINT_NAMES

    a, b = BONES[i]
    return f"{JOINT_NAMES[a]}-{JOINT_NAMES[b]}"


def fills(world: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Joints filled from a monocular pose (views 0) and single-view persons, counted and as shares."""
    persons = [p for m in world for p in m["persons"]]
    joints = sum(len(p["views"]) for p in persons)
    filled = sum(int((np.asarray(p["views"]) == 0).sum()) for p in persons)
    single = sum(bool(p["single_view"]) for p in persons)
    return {"person_frames": len(persons), "joints": joints, "filled": filled,
            "filled_share": filled / joints if joints else float("nan"), "single_view": single,
            "single_view_share": single / len(persons) if persons else float("nan")}


def camera_to_world(kp3d: np.ndarray, R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Camera-frame points (..., 3) of a camera with x_cam = R x_world + t -> world points."""
    return (np.asarray(kp3d, np.float64) - t) @ R


def pose_errors(pred: np.ndarray, ref: np.ndarray, mask: np.ndarray) -> dict[str, float] | None:
    """One single-view pose against the fused one, both (17, 3) m in the world frame, on the joints of
    `mask` (17,) (at least MIN_JOINTS, the pelvis among them; else None): pelvis distance, absolute
    mean joint error, MPJPE (pelvis aligned) and P-MPJPE (Procrustes on the masked joints), metres;
    size: the spread of pred's joints about their mean over ref's (a ratio)."""
    if mask.sum() < MIN_JOINTS or not mask[Joint.PELVIS]:
        return None
    p, r = pred[mask], ref[mask]
    root = int(np.flatnonzero(mask).tolist().index(Joint.PELVIS))

    def spread(x: np.ndarray) -> float:
        return float(np.sqrt(((x - x.mean(0)) ** 2).sum(-1).mean()))

    return {"size": spread(p) / max(spread(r), 1e-9),
            "pelvis": float(np.linalg.norm(pred[Joint.PELVIS] - ref[Joint.PELVIS])),
            "absolute": float(np.linalg.norm(p - r, axis=-1).mean()),
            "mpjpe": float(np.linalg.norm((p - p[root]) - (r - r[root]), axis=-1).mean()),
            "p_mpjpe": float(np.linalg.norm(procrustes_align(p, r) - r, axis=-1).mean())}


def single_view_accuracy(messages: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Each camera's published pose of a person against the world person it belongs to (module
    docstring): per stream and over all, {n, pelvis, absolute, mpjpe, p_mpjpe: {median, mean} mm,
    size, depth: {median, mean} ratios (the single view's size and pelvis depth over the fused)}.
    Single-view world persons (nothing to compare with but that camera) are left out."""
    by_key: dict[tuple[str, int], dict[int, np.ndarray]] = {}  # (stream, frame) -> track id -> kp3d
    world: list[Mapping[str, Any]] = []
    for m in messages:
        if is_world(m):
            world.append(m)
        else:
            persons = {int(p["id"]): np.asarray(p["kp3d"]) for p in m["persons"]}
            by_key[(m["stream"], int(m["frame"]))] = persons
    rows: dict[str, list[dict[str, float]]] = {}
    for m in world:
        cams = {c["stream"]: (np.asarray(c["R"], np.float64), np.asarray(c["t"], np.float64))
                for c in m["cameras"]}
        for p in m["persons"]:
            if p["single_view"]:
                continue
            ref = np.asarray(p["kp3d"], np.float64)
            mask = np.asarray(p["views"]) >= 2
            for stream, tid in p["tracks"].items():
                kp = by_key.get((stream, int(m["frame"])), {}).get(int(tid))
                if kp is None or stream not in cams:
                    continue
                R, t = cams[stream]
                err = pose_errors(camera_to_world(kp, R, t), ref, mask)
                if err is not None:
                    err["depth"] = float(kp[Joint.PELVIS, 2] / (R @ ref[Joint.PELVIS] + t)[2])
                    rows.setdefault(stream, []).append(err)

    def summary(errs: list[dict[str, float]]) -> dict[str, Any]:
        out: dict[str, Any] = {"n": len(errs)}
        for key in ("pelvis", "absolute", "mpjpe", "p_mpjpe", "size", "depth"):
            v = np.array([e[key] for e in errs]) * (1.0 if key in ("size", "depth") else 1000.0)
            out[key] = {"median": float(np.median(v)), "mean": float(v.mean())} if v.size else None
        return out

    return {"per_stream": {s: summary(rows[s]) for s in sorted(rows)},
            "all": summary([e for errs in rows.values() for e in errs])}


def against_reference(world: Sequence[Mapping[str, Any]], reference: Mapping[tuple[int, int], np.ndarray]
                      ) -> dict[str, Any] | None:
    """The world poses against another 3D of the same people: reference (person, frame) -> (17, 3) m
    in the world frame (NaN where missing). Per world person-frame, the reference person whose pelvis
    is nearest (within REAL_MATCH_M) is compared on the joints both have (the world's triangulated
    ones): {n, mpjpe_mm (absolute, no alignment) {median, mean}, p_mpjpe_mm, ids: world id -> the
    reference persons it matched}. None without any match."""
    by_frame: dict[int, list[tuple[int, np.ndarray]]] = {}
    for (person, frame), X in reference.items():
        by_frame.setdefault(int(frame), []).append((int(person), np.asarray(X, np.float64)))
    absolute, aligned, ids = [], [], {}
    for m in world:
        for p in m["persons"]:
            ref = np.asarray(p["kp3d"], np.float64)
            best = None
            for person, X in by_frame.get(int(m["frame"]), []):
                if np.isfinite(X[Joint.PELVIS]).all():
                    d = float(np.linalg.norm(X[Joint.PELVIS] - ref[Joint.PELVIS]))
                    if d <= REAL_MATCH_M and (best is None or d < best[0]):
                        best = (d, person, X)
            if best is None:
                continue
            _, person, X = best
            mask = np.isfinite(X).all(-1) & (np.asarray(p["views"]) >= 2)
            if mask.sum() < MIN_JOINTS:
                continue
            ids.setdefault(int(p["id"]), set()).add(person)
            absolute.append(np.linalg.norm(ref[mask] - X[mask], axis=-1).mean())
            aligned.append(np.linalg.norm(procrustes_align(ref[mask], X[mask]) - X[mask], axis=-1).mean())
    if not absolute:
        return None

    def mm(v: list[float]) -> dict[str, float]:
        a = 1000.0 * np.array(v)
        return {"median": float(np.median(a)), "mean": float(a.mean())}

    return {"n": len(absolute), "mpjpe_mm": mm(absolute), "p_mpjpe_mm": mm(aligned),
            "ids": {k: sorted(v) for k, v in sorted(ids.items())}}


def fuse_alone(messages: Sequence[Mapping[str, Any]], calib: Path, repeats: int = 1) -> dict[str, Any]:
    """The fuse of every world frame again, in this process and alone (nothing else running), from the
    saved camera messages (their 2D, confidences and lifted 3D) with the calibration's cameras and
    the runtime's default [fuse] settings: {ms: latency_stats per world frame (the fastest of
    `repeats` passes), max_diff_m: the largest joint difference from the published world poses (the
    saved messages are rounded to 10 micrometres), ids_same: the same world ids in every frame}."""
    from camerapose.core.calibration import read_calibration
    from camerapose.core.fuse import Fuser, ViewPerson
    from camerapose.runtime.config import load_config

    world = [m for m in messages if is_world(m)]
    by_key = {(m["stream"], int(m["frame"])): m for m in messages if not is_world(m)}
    cams = read_calibration(calib)
    streams = [c["stream"] for c in world[0]["cameras"]]
    times = np.full((repeats, len(world)), np.inf)
    diff, same = 0.0, True
    for r in range(repeats):
        fuser = Fuser([cams[c["name"]] for c in world[0]["cameras"]], load_config().fuse)
        for i, wm in enumerate(world):
            views = [[ViewPerson(int(p["id"]), np.asarray(p["kp2d"]), np.asarray(p["conf"]),
                                 np.asarray(p["kp3d"]), float(p["score"]))
                      for p in by_key[(s, int(wm["frame"]))]["persons"]]
                     if (s, int(wm["frame"])) in by_key else [] for s in streams]
            start = time.perf_counter()
            people = fuser.fuse(views, float(wm.get("t_media", wm["t_capture"])))
            times[r, i] = (time.perf_counter() - start) * 1e3
            if r == 0:
                mine = {p.id: p.kp3d for p in people}
                theirs = {int(p["id"]): np.asarray(p["kp3d"]) for p in wm["persons"]}
                same = same and mine.keys() == theirs.keys()
                for k in mine.keys() & theirs.keys():
                    diff = max(diff, float(np.abs(mine[k] - theirs[k]).max()))
    return {"ms": latency_stats(times.min(0)), "max_diff_m": diff, "ids_same": same}


def analyse(messages: Sequence[Mapping[str, Any]],
            reference: Mapping[tuple[int, int], np.ndarray] | None = None) -> dict[str, Any]:
    """Every figure of the suite from a run's decoded messages (camera streams and the world stream)."""
    world = [m for m in messages if is_world(m)]
    if not world:
        raise CameraPoseError("no message of the world stream: was the run given --calibration?")
    cams = [m for m in messages if not is_world(m)]
    return {
        "world_frames": len(world),
        "camera_frames": {s: sum(m["stream"] == s for m in cams)
                          for s in sorted({m["stream"] for m in cams})},
        "cameras": [c["name"] for c in world[0]["cameras"]],
        "fuse_ms": fuse_latency(world),
        "fuse_ms_per_frame": [[int(m["frame"]), float(m["timings"].get("fuse", float("nan"))),
                               len(m["persons"])] for m in world],
        "ids": world_ids(world),
        "reprojection_px": reprojection(world),
        "bones": bone_variation(world),
        "fills": fills(world),
        "single_view": single_view_accuracy(messages),
        "reference": against_reference(world, reference) if reference else None,
    }


# -- running it ----------------------------------------------------------------------------------------------
def _inputs() -> tuple[list[Path], Path]:
    """The four videos and the calibration from the asset cache; one CameraPoseError line if missing."""
    from camerapose.assets import cache_dir

    cache = cache_dir()
    videos = [cache / VIEW_VIDEO.format(view=v) for v in VIEWS]
    calib = cache / CALIBRATION
    missing = [p for p in [*videos, calib] if not p.is_file()]
    if missing:
        raise CameraPoseError(f"{missing[0]} is missing: {FETCH_HINT}")
    return videos, calib


def _first_frames(video: Path, folder: Path, limit: int) -> Path:
    """The first `limit` frames of a video as a folder of PNG images (quick mode's source)."""
    import cv2

    folder.mkdir(parents=True)
    cap = cv2.VideoCapture(str(video))
    for i in range(limit):
        ok, frame = cap.read()
        if not ok:
            break
        cv2.imwrite(str(folder / f"{i:05d}.png"), frame)
    cap.release()
    return folder


def run_fused(videos: Sequence[Path], calib: Path, out: Path, port: int = 0, extra: Sequence[str] = (),
              timeout_s: float = 900.0) -> tuple[list[dict[str, Any]], float]:
    """`camerapose run` of the views (streams named after their cameras) with the calibration,
    offline, saving every message to `out` (.jsonl) -> (the decoded messages, wall seconds)."""
    from camerapose.runtime.files.messages import read_messages

    cmd = [sys.executable, "-m", "camerapose", "run",
           *[a for view, v in zip(VIEWS, videos, strict=True) for a in ("--source", f"{view}={v}")],
           "--calibration", str(calib), "--every-frame", "--save", str(out),
           "--publish", f"tcp://127.0.0.1:{port or free_port()}", "--stats-every", "0", "-q", *extra]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise CameraPoseError(f"`camerapose run --calibration` failed ({proc.returncode}): "
                              f"{(proc.stderr.strip().splitlines() or ['?'])[-1]}")
    return list(read_messages(out)), wall


def _reference() -> dict[tuple[int, int], np.ndarray] | None:
    """The real set's triangulation in the world frame, or None when it is not in the cache."""
    from camerapose.benchmarks.tracking import _real_inputs, pose2sim_world

    try:
        real, cams, _, _ = _real_inputs()
    except CameraPoseError as err:
        log.info("no comparison with the real set: %s", err)
        return None
    return pose2sim_world(real, cams)


def run(quick: bool = False, out_dir: Path = RESULTS_DIR, port: int = 0) -> Report:
    """The four views fused offline, then `analyse`; the caller writes the report. quick: the first
    QUICK_FRAMES frames of each view."""
    videos, calib = _inputs()
    with tempfile.TemporaryDirectory(prefix="camerapose-multicamera-") as tmp:
        sources, extra = list(videos), []
        if quick:
            sources = [_first_frames(v, Path(tmp) / view, QUICK_FRAMES) for view, v in zip(VIEWS, videos,
                                                                                            strict=True)]
            extra = ["--set", "capture.fps=60"]
        msgs, wall = run_fused(sources, calib, Path(tmp) / "run.jsonl", port, extra)
    figures = analyse(msgs, _reference())
    figures["fuse_alone"] = fuse_alone(msgs, calib, 1 if quick else 3)
    figures.update(quick=quick, wall_s=wall, calibration=calib.name, videos=[v.name for v in videos])
    return _report(figures)


# -- the report ---------------------------------------------------------------------------------------------
def _ms(d: Mapping[str, float] | None, key: str = "median") -> float | str:
    return d[key] if d else "-"


def _report(f: dict[str, Any]) -> Report:
    rep = Report("multicamera", "Multi-camera fusion: the world stream on four calibrated views")
    frames = f["world_frames"]
    quick = f" QUICK run: the first {QUICK_FRAMES} frames of each view." if f["quick"] else ""
    rep.add_text(
        "Pose2Sim's multi-person demo: four portrait views (1088x1920, 60 fps, " + f"{frames} frames) of two "
        "people, with their Qualisys calibration (world z up, metres), through the whole runtime offline: "
        "`camerapose run --source cam01=... (x4) --calibration " + f["calibration"] + " --every-frame "
        "--save run.jsonl`, every stage in its own process, the fuse stage between lift and publish. "
        f"The run took {f['wall_s']:.1f} s ({frames * len(f['cameras']) / f['wall_s']:.1f} camera frames/s "
        "over the 4 views, model loading included). Everything below is read from the saved messages, "
        "what a subscriber gets (`benchmarks/multicamera.py`)." + quick)
    st, alone = f["fuse_ms"], f["fuse_alone"]
    a = alone["ms"]
    rep.add_table("The fuse stage per world frame (ms)",
                  ["where", "world frames", "p50", "p95", "mean", "max"],
                  [["in the run (`timings[\"fuse\"]`: the CPU shared with the four streams' stages)", st["n"],
                    st["p50"], st["p95"], st["mean"], st["max"]],
                   ["alone, in one process, same inputs (fastest of the passes)", a["n"], a["p50"], a["p95"],
                    a["mean"], a["max"]]])
    rep.add_text(f"Alone it gives the published world poses back: the same ids in every frame: "
                 f"{'yes' if alone['ids_same'] else 'NO'}; largest joint difference "
                 f"{1000 * alone['max_diff_m']:.3f} mm (the saved messages are rounded to 0.01 mm).")
    bones = f["bones"]
    rep.add_table("World ids",
                  ["world id", "frames", "coverage", "first-last", "bone CV, median of long bones"],
                  [[pid, d["frames"], f"{100 * d['coverage']:.0f} %", f"{d['first']}-{d['last']}",
                    f"{100 * bones[pid]['median_cv_long']:.2f} %" if pid in bones else "-"]
                   for pid, d in f["ids"].items()])
    r = f["reprojection_px"]
    rows = [["all (views >= 2)", r["n"], r["median"], r["p90"]]]
    rows += [[f"{k} views", v["n"], v["median"], v["p90"]] for k, v in r["by_views"].items()]
    rep.add_table("Reprojection error of the triangulated joints (px)", ["joints", "n", "median", "p90"],
                  rows)
    fl = f["fills"]
    rep.add_table("Monocular fills and single-view persons",
                  ["person-frames", "joints filled from a monocular pose", "single-view person-frames"],
                  [[fl["person_frames"],
                    f"{fl['filled']} of {fl['joints']} ({100 * fl['filled_share']:.1f} %)",
                    f"{fl['single_view']} ({100 * fl['single_view_share']:.1f} %)"]])
    sv = f["single_view"]
    rows = [[s, d["n"], _ms(d["pelvis"]), _ms(d["absolute"]), _ms(d["mpjpe"]), _ms(d["p_mpjpe"]),
             _ms(d["mpjpe"], "mean"), _ms(d["p_mpjpe"], "mean"), _ms(d["size"]), _ms(d["depth"])]
            for s, d in [*sv["per_stream"].items(), ("all", sv["all"])]]
    rep.add_text(
        "**Single-view poses against the fused ones.** Each camera's published `kp3d` (its own frame) "
        "carried into the world frame with the calibration's extrinsics and compared with the world person "
        "it belongs "
        "to (`tracks`), on the joints the fuse stage triangulated (views >= 2); single-view world persons "
        "left out. The world pose is triangulated from the same 2D the single views lifted: this is how far "
        "one camera's 3D lies from what the four cameras agree on, not an error against ground truth.")
    rep.add_table("Single-view 3D vs the fused world pose (mm; medians unless marked)",
                  ["camera", "person-frames", "pelvis distance", "absolute joint error",
                   "MPJPE (pelvis aligned)", "P-MPJPE", "MPJPE mean", "P-MPJPE mean",
                   "size / fused (ratio)", "pelvis depth / fused (ratio)"], rows)
    al = sv["all"]
    if al["size"] and al["depth"]:
        size, depth = 100 * (al["size"]["median"] - 1), 100 * (al["depth"]["median"] - 1)
        rep.add_text(
            f"Over all cameras a single view's person is {abs(size):.0f} % "
            f"{'larger' if size >= 0 else 'smaller'} than the fused one (median), and its pelvis "
            f"{abs(depth):.0f} % "
            f"{'deeper' if depth >= 0 else 'nearer'} in the camera: "
            "one camera cannot tell a larger person farther away from a smaller one nearer, so the size of "
            "the monocular pose (its bone lengths) sets its depth, and that is most of the pelvis distance; "
            "the shapes (P-MPJPE) agree far better.")
    ref = f["reference"]
    if ref:
        rep.add_table("The world poses vs the `real` set's offline triangulation (mm, joints both have)",
                      ["person-frames", "absolute error median", "mean", "P-MPJPE median", "mean",
                       "ids matched"],
                      [[ref["n"], ref["mpjpe_mm"]["median"], ref["mpjpe_mm"]["mean"],
                        ref["p_mpjpe_mm"]["median"], ref["p_mpjpe_mm"]["mean"],
                        "; ".join(f"world {k}: real {', '.join(map(str, v))}"
                                  for k, v in ref["ids"].items())]])
    rep.add_plot("multicamera.png", _plot(f))
    rep.data.update({k: v for k, v in f.items()})
    rep.data["ids"] = {str(k): v for k, v in f["ids"].items()}
    rep.data["bones"] = {str(k): v for k, v in f["bones"].items()}
    if ref:
        rep.data["reference"] = {**ref, "ids": {str(k): v for k, v in ref["ids"].items()}}
    json.dumps(rep.data, default=str)  # fails here, not in write, if something is not serialisable
    return rep


def _plot(f: Mapping[str, Any]) -> Any:
    plt = pyplot()
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5))
    per = np.array(f["fuse_ms_per_frame"], dtype=np.float64).reshape(-1, 3)
    ax = axes[0, 0]
    ax.plot(per[:, 0], per[:, 1], lw=1, label="in the run")
    if "fuse_alone" in f:
        ax.axhline(f["fuse_alone"]["ms"]["p50"], color="C1", ls=":", lw=1,
                   label=f"alone: p50 {f['fuse_alone']['ms']['p50']:.1f} ms")
    ax.axhline(f["fuse_ms"]["p50"], color="0.5", ls="--", lw=0.8,
               label=f"in the run: p50 {f['fuse_ms']['p50']:.1f} ms")
    ax.set_xlabel("world frame")
    ax.set_ylabel("fuse, ms")
    ax.set_title("The fuse stage per world frame", fontsize=10)
    ax.legend(fontsize=8)
    ax = axes[0, 1]
    by = f["reprojection_px"]["by_views"]
    x = np.arange(len(by))
    ax.bar(x, [v["median"] for v in by.values()], color="C0", label="median")
    ax.bar(x, [v["p90"] - v["median"] for v in by.values()],
           bottom=[v["median"] for v in by.values()], color="C0", alpha=0.35, label="to p90")
    ax.set_xticks(x, [f"{k} ({v['n']} joints)" for k, v in by.items()])
    ax.set_xlabel("views a joint was triangulated from")
    ax.set_ylabel("reprojection error, px")
    ax.set_title("Reprojection of the triangulated joints", fontsize=10)
    ax.legend(fontsize=8)
    ax = axes[1, 0]
    for i, (pid, b) in enumerate(f["bones"].items()):
        cv = 100 * np.array(b["cv"])
        long = np.array(b["mean_m"]) > LONG_BONE_M
        x = np.arange(len(cv)) + 0.4 * i - 0.2
        ax.bar(x[long], cv[long], width=0.4, label=f"world id {pid}")
    ax.set_xticks(range(len(BONES)), [_bone_name(i) for i in range(len(BONES))], rotation=60, fontsize=7)
    ax.set_ylabel("bone length CV, %")
    ax.set_title("Bone-length variation of the long bones per world id", fontsize=10)
    ax.legend(fontsize=8)
    ax = axes[1, 1]
    sv = f["single_view"]["per_stream"]
    names = list(sv)
    keys = [("pelvis", "pelvis distance"), ("mpjpe", "MPJPE"), ("p_mpjpe", "P-MPJPE")]
    for k, (key, label) in enumerate(keys):
        medians = [(sv[s][key] or {}).get("median", np.nan) for s in names]
        ax.bar(np.arange(len(names)) + 0.27 * (k - 1), medians, width=0.27, label=label)
    ax.set_xticks(range(len(names)), names)
    ax.set_ylabel("mm (median)")
    ax.set_title("Single-view 3D vs the fused world pose", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
