"""Detector benchmark: per-frame latency of the 2D stage with 1, 2 and 4 persons, tracking mode vs
the person detector on every frame, beside MediaPipe's own pipeline when it is installed.

    camerapose bench --suite detector
    -> benchmarks/results/detector.md, detector.json, detector_latency.png

Three windows of the demo video: frames 0-35 (one person in view), 95-130 (two people) and the same
95-130 as 4-person frames: the demo has two people, so each 4-person frame puts two copies of the
frame side by side -- its middle half (the columns both people stay in over that window) and the
mirror image of that half -- which keeps the frame size and the people's scale of the original.
Each window is run through (a) our BlazePose pipeline in tracking mode as the runtime runs it live
(person detector every 10 frames, in the background: a frame never waits for it, its result joins
the first frame after it is done), (b) the same with every 10th frame waiting for the person
detector (`person_search = "sync"`, the behaviour before it moved off the tracking path) and (c)
ours with the person detector on every frame, each with its own detector (the 2- and 4-person ones
first follow frames 0-94 untimed, so the people are tracked when timing starts; max_persons is the
default, 4); (d) MediaPipe's own pipeline (`mp.solutions.pose`, model_complexity=1, one person by
design) runs the 1-person window. The background search of (a) runs while the other pipelines'
frames are timed, at a lower CPU priority, as it runs beside the other stages live. All are
interleaved frame by frame in one run, so they see the same machine load (this machine is shared:
only side-by-side ratios mean much). MediaPipe pins numpy<2, so it runs in a side virtual
environment as a worker subprocess (frame indices in, milliseconds out over a pipe); set
CAMERAPOSE_MEDIAPIPE_PYTHON to its python (default /tmp/mpvenv/bin/python), else it is reported as
"not installed". Latency = wall time of `Detector.detect` on one BGR frame (ours: everything,
tracking and smoothing included) and of `Pose.process` on the same frame already converted to RGB
(MediaPipe); decoding and building the 4-person frames are outside. Rows are grouped by how many
persons each pipeline returned (the person detector does not always find everyone; the recall table
says how often it did).

The detector benchmark reports the tracking figures too: the tracking suite's (`tracking.py`) ID
switches, IDF1, MOTA, frames covered and ids of the demo run offline with the default detector,
against the demo's hand labels (not measured on another `--source`: it has no labels). And the cost
of the lost-person search (`detector.lost_search`: the landmark model at several rotations where a
lost person's track predicts them): two windows of the demo, frames 160-195 (the man's backflip, where
he is lost and searched for) and 95-130 (nobody lost), each through two detectors, lost_search on
and off (live mode, as the runtime runs a camera; each first follows every frame before its window
untimed, quick mode included), interleaved frame by frame: per-frame p50/p95 and the mean number of
extra landmark crops the search ran per frame (`last_stats["search_crops"]`). And the runtimes
(`detector_runtimes.py`): BlazePose's networks on LiteRT against onnxruntime (and TensorRT on a GPU)
on the same inputs, alone and as the whole 2D stage, with each runtime's 2D against LiteRT's.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from camerapose.benchmarks import detector_runtimes, mediapipe_peer
from camerapose.benchmarks.report import RESULTS_DIR, Report, latency_stats, pyplot
from camerapose.core.errors import CameraPoseError
from camerapose.core.skeleton import BLAZEPOSE33

log = logging.getLogger(__name__)

# persons in view -> timed frames, equally long (they are interleaved step by step); the second
# person is in view from about frame 36.
WINDOWS = {1: range(0, 36), 2: range(95, 131), 4: range(95, 131)}
QUICK_FRAMES, QUICK_LEAD_IN = 8, 10  # quick mode: timed frames per window, untimed frames before each
HALF_FROM = 0.18  # 4-person frames: columns [0.18 w, 0.68 w) hold both demo people over frames 80-164
TRACKING = "ours, tracking (detect every 10)"  # the default: person detector in the background, live
TRACKING_SYNC = "ours, tracking, frame waits for the person detector (before)"
EVERY_FRAME = "ours, detector every frame"
# lost-person search cost: window -> timed frames (equally long: interleaved step by step)
LOST_WINDOWS = {"someone lost (160-195)": range(160, 196), "nobody lost (95-130)": range(95, 131)}

def decode(video: Path, indices: set[int]) -> dict[int, np.ndarray]:
    cap = cv2.VideoCapture(str(video))
    out, i = {}, 0
    while i <= max(indices):
        ok, f = cap.read()
        if not ok:
            break
        if i in indices:
            out[i] = f
        i += 1
    cap.release()
    return out


def _landmark_batching(detector, reps: int) -> dict[str, dict]:
    """Landmark model alone: 1 crop, 2 crops in one call, 2 crops in two calls; interleaved reps.

    The batch size alternates between the variants, so each timing includes the interpreter's
    input resize where the batch changes, as it does in the pipeline when people come and go.
    """
    crops = np.random.default_rng(0).uniform(0, 1, (2, 256, 256, 3)).astype(np.float32)
    model = detector.landmark_model
    variants = {"1 crop": lambda: model(crops[:1]), "2 crops, one call": lambda: model(crops),
                "2 crops, two calls": lambda: (model(crops[:1]), model(crops[1:]))}
    samples: dict[str, list[float]] = {k: [] for k in variants}
    for rep in range(reps + 2):
        for name, fn in variants.items():
            t0 = time.perf_counter()
            fn()
            if rep >= 2:
                samples[name].append((time.perf_counter() - t0) * 1e3)
    return {k: latency_stats(v) for k, v in samples.items()}


def four_person_frame(frame: np.ndarray) -> np.ndarray:
    """A frame's middle half beside its mirror image: 2 people -> 4, same size and scale.
    (H, W, 3) uint8 -> (H, 2 * (W // 2), 3)."""
    w = frame.shape[1]
    x0 = int(w * HALF_FROM)
    half = frame[:, x0 : x0 + w // 2]
    return np.ascontiguousarray(np.hstack([half, half[:, ::-1]]))


def _frame(frames: dict[int, np.ndarray], persons: int, i: int) -> np.ndarray:
    return four_person_frame(frames[i]) if persons == 4 else frames[i]


def _windows(quick: bool) -> tuple[dict[int, range], dict[int, range]]:
    """(timed frames, untimed lead-in frames) per window."""
    timed = {n: (r[:QUICK_FRAMES] if quick else r) for n, r in WINDOWS.items()}
    lead = {n: range(max(0, r.start - QUICK_LEAD_IN) if quick else 0, r.start) for n, r in timed.items()}
    return timed, lead


def run(quick: bool = False, out_dir: Path = RESULTS_DIR, source: Path | None = None) -> Report:
    """Time every (pipeline, window) pair frame by frame, interleaved; the caller writes the report."""
    from camerapose.assets import asset_path
    from camerapose.runtime.detect.base import DetectorConfig
    from camerapose.runtime.detect.registry import create_detector

    video = Path(source) if source is not None else asset_path("demo.mp4")
    windows, lead = _windows(quick)
    wanted = {i for n in windows for r in (lead[n], windows[n]) for i in r}
    frames = decode(video, wanted)
    if len(frames) < len(wanted):
        raise CameraPoseError(f"{video}: the detector suite needs at least {max(wanted) + 1} frames")
    # name -> (config, live): the async search in live mode, as the runtime runs it on a camera
    variants = {TRACKING: (DetectorConfig(detect_every=10, person_search="async"), True),
                TRACKING_SYNC: (DetectorConfig(detect_every=10, person_search="sync"), False),
                EVERY_FRAME: (DetectorConfig(detect_every=1, person_search="sync"), False)}
    max_persons = min(cfg.max_persons for cfg, _ in variants.values())
    mp_worker = None
    if mediapipe_peer.available():
        mp_worker = mediapipe_peer.FrameWorker(video, sorted(frames))
        mp_worker.reset()
    else:
        log.warning("MediaPipe not installed at %s: its rows say 'not installed'",
                    mediapipe_peer.MEDIAPIPE_PYTHON)
    dets = {(name, n): create_detector(cfg) for name, (cfg, _) in variants.items() for n in windows}
    times: dict[tuple[str, int], list[tuple[int, float]]] = {key: [] for key in dets}  # (persons, ms)
    times[("mediapipe", 1)] = []
    try:
        for (name, n), det in dets.items():  # untimed lead-in: tracks established, caches warm
            for i in lead[n]:
                det.detect([_frame(frames, n, i)], [i / 30.0], live=variants[name][1])
        if mp_worker:
            for i in lead[1]:
                mp_worker(i)
        agreement: dict[str, list[float]] = {name: [] for name in variants}  # px per compared frame
        steps = list(zip(*windows.values(), strict=True))
        for step in tqdm(steps, desc="detector bench", unit="step", disable=None):
            inputs = {n: _frame(frames, n, i) for n, i in zip(windows, step, strict=True)}
            ours: dict[str, list] = {}
            for (name, n), det in dets.items():
                i = step[list(windows).index(n)]
                t0 = time.perf_counter()
                persons = det.detect([inputs[n]], [i / 30.0], live=variants[name][1])[0]
                times[(name, n)].append((len(persons), (time.perf_counter() - t0) * 1e3))
                if n == 1:
                    ours[name] = persons
            if mp_worker:
                ms, found, landmarks = mp_worker(step[0])
                times[("mediapipe", 1)].append((found, ms))
                for name, persons in ours.items():
                    if landmarks is not None and persons:
                        agreement[name].append(closest_pose_error(landmarks, persons))
        batching = _landmark_batching(next(iter(dets.values())), 10 if quick else 100)
        runtime = next(iter(dets.values())).landmark_model.backend
    finally:
        for d in dets.values():
            d.close()
        if mp_worker:
            mp_worker.close()
    samples: dict[str, dict[str, list[float]]] = {}  # "N persons" -> pipeline -> ms
    order = [TRACKING, TRACKING_SYNC, EVERY_FRAME, "mediapipe"]
    for (name, _), rows in sorted(times.items(), key=lambda kv: order.index(kv[0][0])):
        for count, ms in rows:
            if count > 0:
                samples.setdefault(_group(count), {}).setdefault(name, []).append(ms)
    samples = dict(sorted(samples.items()))
    results = {g: {name: latency_stats(v) for name, v in by.items()} for g, by in samples.items()}
    recall = {f"{n} in view": {name: {"frames": len(rows), "mean_found": float(np.mean([c for c, _ in rows])),
                                      "all_found": int(sum(c >= n for c, _ in rows))}
                               for (name, m), rows in times.items() if m == n and rows}
              for n in windows}
    meta = {"video": video, "windows": windows, "lead": lead, "quick": quick, "max_persons": max_persons,
            "mediapipe": mp_worker is not None, "runtime": runtime,
            "agreement": {k: latency_stats(v) for k, v in agreement.items() if v} if mp_worker else {},
            "tracking": _tracking_figures(video), "lost_search": _lost_search_cost(video),
            "runtimes": detector_runtimes.measure(frames, windows[2], lead[2], quick)}
    return _report(results, samples, recall, batching, meta)


def _is_demo(video: Path) -> bool:
    from camerapose.assets import cache_dir

    return video.resolve() == (cache_dir() / "demo.mp4").resolve()


def _tracking_figures(video: Path) -> dict[str, Any] | str:
    """The tracking suite's figures of the demo run offline, or why there are none."""
    if not _is_demo(video):
        return f"not measured: the tracking figures need the demo's hand labels; {video.name} has none"
    from camerapose.benchmarks import tracking

    try:
        return tracking.public(tracking.demo_offline(video))
    except CameraPoseError as err:
        log.warning("tracking figures skipped: %s", err)
        return f"not measured: {err}"


def _lost_search_cost(video: Path) -> dict[str, dict[str, dict]] | str:
    """Per-frame latency and search crops with lost_search on and off over LOST_WINDOWS, interleaved
    frame by frame (module docstring); in quick mode too, each detector first follows every frame
    before its window (with a short lead-in the man is not tracked yet when he flips, so nobody is
    lost). -> window -> "on"/"off" -> latency_stats + search crops; or why it is not measured."""
    from camerapose.runtime.detect.base import DetectorConfig
    from camerapose.runtime.detect.registry import create_detector

    if not _is_demo(video):
        return f"not measured: its windows are the demo video's frames; {video.name} is another video"
    keep = {i for r in LOST_WINDOWS.values() for i in r}
    variants = [(w, on) for w in LOST_WINDOWS for on in (True, False)]
    dets = {key: create_detector(DetectorConfig(lost_search=key[1])) for key in variants}
    ms: dict[tuple[str, bool], list[float]] = {key: [] for key in variants}
    crops: dict[tuple[str, bool], list[float]] = {key: [] for key in variants}
    frames: dict[int, np.ndarray] = {}
    try:
        cap = cv2.VideoCapture(str(video))
        for i in tqdm(range(max(keep) + 1), desc="lost search: lead-in", unit="frame", disable=None):
            ok, frame = cap.read()
            if not ok:
                break
            for (w, _), det in dets.items():  # untimed: each follows the frames before its window
                if i < LOST_WINDOWS[w].start:
                    det.detect([frame], [i / 30.0], live=True)
            if i in keep:
                frames[i] = frame
        cap.release()
        if len(frames) < len(keep):
            raise CameraPoseError(f"{video}: the lost-search windows need {max(keep) + 1} frames")
        names = list(LOST_WINDOWS)
        for step in tqdm(list(zip(*LOST_WINDOWS.values(), strict=True)), desc="lost search", unit="step",
                         disable=None):
            for (w, on), det in dets.items():
                i = step[names.index(w)]
                t0 = time.perf_counter()
                det.detect([frames[i]], [i / 30.0], live=True)
                ms[(w, on)].append((time.perf_counter() - t0) * 1e3)
                crops[(w, on)].append(float(getattr(det, "last_stats", {}).get("search_crops", 0.0)))
    finally:
        for d in dets.values():
            d.close()
    return {w: {"on" if on else "off": {**latency_stats(ms[(w, on)]), "search_crops_mean": float(np.mean(c)),
                                        "frames_with_search": int(sum(v > 0 for v in c))}
                for (ww, on), c in crops.items() if ww == w}
            for w in LOST_WINDOWS}


def closest_pose_error(landmarks: np.ndarray, persons: list) -> float:
    """MediaPipe's 33 landmarks (33, 2) px vs our persons' H36M-17 keypoints: the median joint
    distance (px) to the closest of our persons (MediaPipe follows one person; we may see more)."""
    mp17, _ = BLAZEPOSE33(landmarks)
    return min(float(np.median(np.linalg.norm(p.kp2d - mp17, axis=1))) for p in persons)


def _group(count: int) -> str:
    return f"{count} person{'s' if count > 1 else ''}"


def _report(results: dict, samples: dict, recall: dict, batching: dict, meta: dict) -> Report:
    rep = Report("detector", "2D detector latency with 1, 2 and 4 persons, beside MediaPipe's pipeline")
    tracking = (f"`{TRACKING}` runs the person detector in the background as the live runtime does (a frame "
                f"never waits for it); `{TRACKING_SYNC}` makes every 10th frame wait for it, as before.")
    w = meta["windows"]
    quick = " -- QUICK run, few frames and a short lead-in" if meta["quick"] else ""
    rep.add_text(
        f"Video: `{meta['video'].name}`; timed windows: 1 person in view = frames "
        f"{w[1].start}-{w[1].stop - 1}, 2 persons = frames {w[2].start}-{w[2].stop - 1}, 4 persons = the "
        "same frames made 4-person by placing the frame's middle half beside its mirror image (the demo "
        f"has two people; the composite keeps their size and the frame's){quick}. Rows are grouped by "
        f"the number of persons each pipeline returned (max_persons = {meta['max_persons']}). Per-frame "
        f"wall time of one `detect` call (ours: BGR in, BlazePose's networks on {meta['runtime']} "
        "(`backend_runtime = auto`) with 2 threads, tracking and "
        "One-Euro included) and of `Pose.process` (MediaPipe 0.10.21, "
        "model_complexity=1, RGB in, its default threads), interleaved frame by frame in one run on a "
        "machine shared with other jobs (p95/p99 are load noise; compare p50s side by side). "
        "MediaPipe's solution follows ONE person by design, so it has no multi-person row. " + tracking)
    rows = [[group, name, s["n"], s["p50"], s["p95"], s["p99"], s["mean"]]
            for group, by in results.items() for name, s in by.items()]
    if not meta["mediapipe"]:
        rows.append(["1 person", "mediapipe", "not installed", "", "", "", ""])
    rep.add_table("Per-frame latency (ms)",
                  ["persons found", "pipeline", "frames", "p50", "p95", "p99", "mean"], rows)
    rep.add_table("Recall: persons found per timed frame",
                  ["in view", "pipeline", "frames", "mean found", "frames with all found"],
                  [[view, name, r["frames"], r["mean_found"], r["all_found"]]
                   for view, by in recall.items() for name, r in by.items()])
    if meta["agreement"]:
        rep.add_table("2D agreement with MediaPipe (1-person window): per frame, the median joint distance "
                      "(px) between MediaPipe's pose and ours, H36M-17 joints, both as deployed (each with "
                      "its own smoothing; with smoothing off, tests/runtime/test_detect_blazepose.py checks "
                      "parity: median 2.2 px)",
                      ["pipeline", "frames", "median px", "p95 px", "max px"],
                      [[k, v["n"], v["p50"], v["p95"], v["max"]] for k, v in meta["agreement"].items()])
    rep.add_table("Targets", ["measure", "measured", "target"], _targets(results, meta["mediapipe"]))
    rep.add_table("Landmark model alone (ms): one batched call vs a loop", ["call", "p50", "p95", "p99"],
                  [[k, v["p50"], v["p95"], v["p99"]] for k, v in batching.items()])
    _add_tracking(rep, meta["tracking"])
    _add_lost_search(rep, meta["lost_search"])
    detector_runtimes.add_to_report(rep, meta["runtimes"])
    rep.add_plot("detector_latency.png", _plot(samples))
    rep.data.update({"results": results, "recall": recall, "landmark_batching": batching,
                     "tracking": meta["tracking"], "lost_search": meta["lost_search"],
                     "agreement_px": meta["agreement"],
                     "mediapipe": meta["mediapipe"], "quick": meta["quick"], "runtime": meta["runtime"],
                     "max_persons": meta["max_persons"],
                     "windows": {n: [r.start, r.stop] for n, r in w.items()},
                     "four_person_frames": "middle half of the frame beside its mirror image"})
    return rep


def _add_tracking(rep: Report, tracking: dict[str, Any] | str) -> None:
    """The tracking suite's figures of the demo, offline (`camerapose bench --suite tracking` has the
    live runs and more videos)."""
    title = ("Tracking, demo video offline (default detector; hand labels tests/data/demo_tracks.json; "
             "`--suite tracking` for live runs and the Pose2Sim views)")
    if isinstance(tracking, str):
        rep.add_text(f"### {title}\n\n{tracking}")
        return
    persons = "; ".join(f"{k} {100 * p['covered_frac']:.0f} % ({p['covered']}/{p['frames']})"
                        for k, p in tracking["persons"].items())
    c = tracking["checks"]
    rep.add_table(title, ["ID switches", "fragmentations", "IDF1", "MOTA", "frames covered per person",
                          "hypothesis ids", "spurious ids", "the man's ids (frames)",
                          f"frames of {c['window'][0]}-{c['window'][1]} with the man's pose"],
                  [[tracking["id_switches"], tracking["fragmentations"], tracking["idf1"], tracking["mota"],
                    persons, len(tracking["hyp_ids"]), len(tracking["spurious_ids"]),
                    ", ".join(f"{i}: {a}-{b}" for i, a, b in c["ids"]) or "none",
                    f"{c['window_with_pose']} of {c['window_frames']}"]])


def _add_lost_search(rep: Report, cost: dict[str, dict[str, dict]] | str) -> None:
    title = "Lost-person search: per-frame cost, lost_search on vs off (ms; live mode, interleaved)"
    if isinstance(cost, str):
        rep.add_text(f"### {title}\n\n{cost}")
        return
    rows = []
    for w, by in cost.items():
        for flag, st in by.items():
            rows.append([w, flag, st["n"], st["p50"], st["p95"], st["search_crops_mean"],
                         st["frames_with_search"]])
        rows.append([w, "on / off (p50)", "", f"{by['on']['p50'] / by['off']['p50']:.2f}x", "", "", ""])
    rep.add_table(title, ["window", "lost_search", "frames", "p50", "p95", "search crops per frame (mean)",
                          "frames with a search"], rows)


def _targets(results: dict, have_mp: bool) -> list[list[str]]:
    one, two = results.get("1 person", {}).get(TRACKING), results.get("2 persons", {}).get(TRACKING)
    four = results.get("4 persons", {}).get(TRACKING)
    out = []
    if one and two:
        out.append(["2 persons / 1 person (tracking, p50)", f"{two['p50'] / one['p50']:.2f}x", "<= 1.6x"])
    if one and four:
        out.append(["4 persons / 1 person (tracking, p50)", f"{four['p50'] / one['p50']:.2f}x", "(none)"])
    mp = results.get("1 person", {}).get("mediapipe")
    if mp and one:
        out.append(["ours / MediaPipe, 1 person (tracking, p50)",
                    f"{one['p50']:.2f} vs {mp['p50']:.2f} ms ({one['p50'] / mp['p50']:.2f}x)", "<= 1.0x"])
    if mp and two:
        per = two["p50"] / 2
        out.append(["ours per person with 2 persons / MediaPipe (p50)",
                    f"{per:.2f} vs {mp['p50']:.2f} ms ({per / mp['p50']:.2f}x)", "<= 1.0x"])
    if not have_mp:
        out.append(["ours per person vs MediaPipe", "MediaPipe not installed", "<= 1.0x"])
    return out


def _plot(samples: dict[str, dict[str, list[float]]]) -> Any:
    """Box plots of per-frame latency, one panel per number of persons found."""
    plt = pyplot()
    cols = min(2, max(1, len(samples)))
    rows = -(-max(1, len(samples)) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.6 * rows), sharey=True, squeeze=False)
    for ax, (seg, by) in zip(axes.flat, samples.items(), strict=False):
        names = [n for n, v in by.items() if v]
        ax.boxplot([by[n] for n in names], whis=(5, 95), showfliers=False)
        ax.set_xticks(range(1, len(names) + 1), [n.replace(", ", ",\n") for n in names], fontsize=8)
        ax.set_title(f"{seg} found")
        ax.grid(axis="y", alpha=0.3)
    for ax in axes.flat[len(samples):]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel("ms per frame\n(box p25-p75, whiskers p5-p95)")
    fig.suptitle("2D detector per-frame latency, demo video")
    fig.tight_layout()
    return fig
