"""Tracking benchmark: who is who over time, measured as the multi-object tracking (MOT) field does.

    camerapose bench --suite tracking
    -> benchmarks/results/tracking.md, tracking.json, tracking_ids.png

The runtime's 2D detector (`create_detector(DetectorConfig())`, the defaults: BlazePose, person
detector every 10 frames, off the tracking path) runs on videos whose people are known, and its
track ids are scored against them with py-motmetrics (the MOTChallenge metrics):

- the demo video (two people, 230 frames) against hand labels, `tests/data/demo_tracks.json` (per
  person: the inclusive frame ranges they are in view and keyframe boxes, linearly interpolated;
  `load_labels`), offline (`detect`'s default mode: deterministic, every frame) and LIVE: the frames
  (decoded beforehand, as a camera delivers them) are fed at the video's 30 fps in real time with
  `live=True`; a frame whose time has passed while a detect ran is dropped, as a camera drops it,
  and only the frames processed are scored (5 runs; 1 in quick mode);
- the four portrait views of Pose2Sim's multi-person demo (`video/pose2sim_multi_cam0{1..4}.mp4`,
  60 fps, 100 frames, two people walking around each other), offline, against boxes projected from
  the `real` set's triangulated 3D (`pose2sim_gt`): each person's 3D of a frame goes through the
  calibration into every view, so a person hidden or missed in one view still counts there while
  their joints are in the image. The 3D was triangulated from this same detector's 2D (of its
  HEAD at build time), but the identities come from four views agreeing epipolarly: a swap in one
  view is a swap here.

Matching (`centre_distance`): a hypothesis matches a labelled person when the distance between the
two boxes' centres is at most MATCH_DIST = 0.5 of the labelled box's diagonal (motmetrics then
assigns by the Hungarian method, keeping last frame's matches where still valid). Not IoU: the
labels are coarse (keyframes every 10 frames, boxes by eye in the backflip's glare) and their
extent is not the detector's (its box is the landmarks' extent: arms out widen it; a person half
behind a tree is their visible half), so IoU falls below 0.5 for right answers -- on the backflip
the tucked man is a 150 x 200 px box, where a 40 px offset halves the IoU; the centre criterion
tolerates extent and scale and still never confuses the demo's two people, whose centres stay
more than 1.0 diagonal apart (closest over frames 120-125, the man on the roof above the woman).

Figures per video (`summarize`): ID switches (a labelled person's matched id changes), fragmentations
(their track interrupted), IDF1 (identity F1: the share of matched detections under the best
one-to-one id mapping over the whole video), MOTA (1 - (misses + false positives + switches) /
labelled boxes), frames covered per person (the share of their labelled frames with a matched
hypothesis), distinct hypothesis ids, and spurious ids (hypothesis ids matched to a person in less
than SPURIOUS_SHARE of the frames they appear in: duplicates, ghosts). For the demo also: the ids
the man carried over frames 0-229 (each with its frames) and in how many frames of his backflip,
170-188, he has a pose.
"""

from __future__ import annotations

import itertools
import json
import logging
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from camerapose.benchmarks.report import RESULTS_DIR, Report, free_port, pyplot
from camerapose.core.errors import CameraPoseError

log = logging.getLogger(__name__)

LABELS = Path(__file__).resolve().parents[1] / "tests" / "data" / "demo_tracks.json"
MATCH_DIST = 0.5  # centre distance / labelled box diagonal (module docstring)
SPURIOUS_SHARE = 0.1  # a hypothesis id matched in fewer than this share of its frames is spurious
LIVE_RUNS, QUICK_LIVE_RUNS = 5, 1
QUICK_VIEW_FRAMES = 30  # quick mode: the Pose2Sim views' first frames only
DEMO_PERSON, DEMO_FLIP = "man", (170, 188)  # the demo's hard moment: the backflip into the sun, inclusive
VIEW_VIDEO = "video/pose2sim_multi_{view}.mp4"
GT_MARGIN = 0.1  # Pose2Sim boxes: the projected joints' extent grown by this share of its height per side
MIN_INSIDE = 0.5  # a projected person is in a view when this share of their joints falls in the image
FETCH_HINT = "run `camerapose assets fetch --mocap`"

Box = np.ndarray  # (4,) x0, y0, x1, y1 pixels
Frames = Sequence[Mapping[Hashable, Box]]  # per frame: id -> box


# -- labels -------------------------------------------------------------------------------------------
def load_labels(path: Path | str = LABELS) -> dict[str, Any]:
    """The hand labels of a video (`tests/data/demo_tracks.json`): the JSON object, checked
    (`label_problems`); CameraPoseError naming the file for a missing or malformed one."""
    path = Path(path)
    try:
        labels = json.loads(path.read_text())
    except OSError as err:
        raise CameraPoseError(f"{path}: cannot read the labels ({err.strerror or err})") from None
    except ValueError as err:
        raise CameraPoseError(f"{path}: not JSON ({err})") from None
    problems = label_problems(labels)
    if problems:
        raise CameraPoseError(f"{path}: {problems[0]}" + (f" (and {len(problems) - 1} more)"
                                                          if len(problems) > 1 else ""))
    return labels


def label_problems(labels: Any) -> list[str]:
    """What is wrong with a labels object, [] when nothing: every person has a name, ranges
    [first, last] (inclusive, sorted, disjoint, inside the video) and keyframes [frame, x0, y0, x1,
    y1] sorted by frame, each inside one of the ranges, at both ends of every range, with a box
    inside the frame and x0 < x1, y0 < y1."""
    if not isinstance(labels, dict):
        return ["the labels must be a JSON object"]
    try:
        width, height = (float(v) for v in labels["size"])
        n = int(labels["frames"])
        persons = labels["persons"]
    except (KeyError, TypeError, ValueError):
        return ["needs size [w, h], frames and persons"]
    out: list[str] = []
    names = [p.get("name") if isinstance(p, dict) else None for p in persons]
    if len(set(names)) != len(names) or not all(isinstance(s, str) and s for s in names):
        out.append("every person needs a distinct name")
    for person, name in zip(persons, names, strict=True):
        ranges, keys = (person.get("ranges"), person.get("keyframes")) if isinstance(person, dict) else (0, 0)
        if not isinstance(ranges, list) or not ranges or not isinstance(keys, list) or not keys:
            out.append(f"person {name!r}: needs ranges and keyframes")
            continue
        if any(not (isinstance(r, list) and len(r) == 2 and 0 <= r[0] <= r[1] < n) for r in ranges):
            out.append(f"person {name!r}: a range is not [first, last] within frames 0-{n - 1}")
            continue
        if any(a[1] >= b[0] for a, b in itertools.pairwise(ranges)):
            out.append(f"person {name!r}: ranges must be sorted and disjoint")
        if any(not (isinstance(k, list) and len(k) == 5) for k in keys):
            out.append(f"person {name!r}: a keyframe is not [frame, x0, y0, x1, y1]")
            continue
        frames = [k[0] for k in keys]
        if frames != sorted(set(frames)):
            out.append(f"person {name!r}: keyframes must be sorted by frame, one per frame")
        for f, x0, y0, x1, y1 in keys:
            if not any(a <= f <= b for a, b in ranges):
                out.append(f"person {name!r}: keyframe {f} is outside their ranges")
            if not (0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height):
                out.append(f"person {name!r}: keyframe {f}'s box is empty or outside the "
                           f"{width:g}x{height:g} frame")
        for a, b in ranges:
            if a not in frames or b not in frames:
                out.append(f"person {name!r}: range {a}-{b} needs keyframes at both ends")
    return out


def interpolate(keyframes: Sequence[Sequence[float]], frames: Iterable[int]) -> dict[int, Box]:
    """Boxes at `frames` linearly interpolated between keyframes [frame, x0, y0, x1, y1] (sorted);
    frames outside the keyframes' span are left out. -> frame -> (4,) float64."""
    k = np.asarray(keyframes, dtype=np.float64).reshape(-1, 5)
    out = {}
    for f in frames:
        if k[0, 0] <= f <= k[-1, 0]:
            out[int(f)] = np.array([np.interp(f, k[:, 0], k[:, c]) for c in range(1, 5)])
    return out


def label_tracks(labels: Mapping[str, Any]) -> list[dict[Hashable, Box]]:
    """Per frame of the labelled video, each person in view: name -> box. Within a range the box is
    interpolated between the range's keyframes (ranges are inclusive); outside every range the
    person is absent."""
    out: list[dict[Hashable, Box]] = [{} for _ in range(int(labels["frames"]))]
    for person in labels["persons"]:
        for a, b in person["ranges"]:
            keys = [k for k in person["keyframes"] if a <= k[0] <= b]
            for f, box in interpolate(keys, range(a, b + 1)).items():
                out[f][person["name"]] = box
    return out


# -- matching and metrics ----------------------------------------------------------------------------
def centre_distance(gt: np.ndarray, hyp: np.ndarray) -> np.ndarray:
    """Distance between box centres over the ground-truth box's diagonal. gt (G, 4), hyp (H, 4)
    x0, y0, x1, y1 -> (G, H)."""
    gt = np.asarray(gt, dtype=np.float64).reshape(-1, 4)
    hyp = np.asarray(hyp, dtype=np.float64).reshape(-1, 4)
    cg = (gt[:, :2] + gt[:, 2:]) / 2
    ch = (hyp[:, :2] + hyp[:, 2:]) / 2
    diag = np.linalg.norm(gt[:, 2:] - gt[:, :2], axis=1)
    return np.linalg.norm(cg[:, None] - ch[None], axis=-1) / np.maximum(diag, 1e-9)[:, None]


def _motmetrics() -> Any:
    try:
        import motmetrics
    except ImportError:
        raise CameraPoseError("the tracking figures need motmetrics: pip install -e '.[bench]'") from None
    return motmetrics


def accumulate(gt: Frames, hyp: Frames, frames: Iterable[int] | None = None, max_dist: float = MATCH_DIST
               ) -> tuple[Any, list[Hashable]]:
    """A motmetrics accumulator over `frames` (default every frame of gt; hyp has the same length):
    per frame the labelled persons (gt: id -> box) and the tracker's (hyp: track id -> box), pairs
    farther than max_dist (`centre_distance`) not allowed. -> (accumulator, ground-truth ids: the
    accumulator's object id k is ids[k])."""
    mm = _motmetrics()
    ids = sorted({k for frame in gt for k in frame}, key=str)
    index = {k: i for i, k in enumerate(ids)}
    acc = mm.MOTAccumulator(auto_id=False)
    for f in range(len(gt)) if frames is None else frames:
        g, h = gt[f], hyp[f]
        d = centre_distance(np.array([g[k] for k in g]), np.array([h[k] for k in h]))
        d[d > max_dist] = np.nan
        acc.update([index[k] for k in g], [int(k) for k in h], d, frameid=int(f))
    return acc, ids


def runs(values: Sequence[tuple[int, Any]]) -> list[list[Any]]:
    """[(frame, value), ...] in frame order -> [[value, first frame, last frame], ...], equal
    neighbours merged (frames left out between them do not split a run)."""
    out: list[list[Any]] = []
    for f, v in values:
        if out and out[-1][0] == v:
            out[-1][2] = f
        else:
            out.append([v, f, f])
    return out


def summarize(gt: Frames, hyp: Frames, frames: Iterable[int] | None = None, max_dist: float = MATCH_DIST,
              spurious_share: float = SPURIOUS_SHARE) -> dict[str, Any]:
    """The MOT figures of one video (module docstring) over `frames` (default all).

    -> {frames, id_switches, fragmentations, idf1, mota, false_positives, misses, labelled,
    hyp_ids (sorted), spurious_ids, persons: {gt id: {frames, covered, covered_frac, ids (in order
    of first match), segments [[hyp id or None, first, last], ...], per_frame {frame: hyp id or
    None}}}}."""
    mm = _motmetrics()
    frames = list(range(len(gt)) if frames is None else frames)
    acc, ids = accumulate(gt, hyp, frames, max_dist)
    names = ["num_switches", "num_fragmentations", "idf1", "mota", "num_false_positives", "num_misses",
             "num_objects"]
    m = mm.metrics.create().compute(acc, metrics=names, name="video").iloc[0]
    ev = acc.mot_events
    matched = ev[ev["Type"].isin(["MATCH", "SWITCH"])]  # one row per matched pair; extra event rows aside
    pairs = zip(matched.index, matched["OId"], matched["HId"], strict=True)
    match_of = {(int(f), int(o)): int(h) for (f, _), o, h in pairs}  # (frame, gt index) -> hyp id
    persons = {}
    for k, name in enumerate(ids):
        own = [f for f in frames if name in gt[f]]
        per_frame = {f: match_of.get((f, k)) for f in own}
        covered = sum(v is not None for v in per_frame.values())
        order = list(dict.fromkeys(v for v in per_frame.values() if v is not None))
        persons[name] = {"frames": len(own), "covered": covered,
                         "covered_frac": covered / len(own) if own else float("nan"), "ids": order,
                         "segments": runs(list(per_frame.items())), "per_frame": per_frame}
    present: dict[int, int] = {}
    for f in frames:
        for h in hyp[f]:
            present[int(h)] = present.get(int(h), 0) + 1
    hits: dict[int, int] = {}
    for h in match_of.values():
        hits[h] = hits.get(h, 0) + 1
    spurious = sorted(h for h, n in present.items() if hits.get(h, 0) < spurious_share * n)

    def number(v: Any) -> float:
        return float(v) if np.isfinite(v) else float("nan")

    return {"frames": len(frames), "labelled": int(m["num_objects"]), "id_switches": int(m["num_switches"]),
            "fragmentations": int(m["num_fragmentations"]), "idf1": number(m["idf1"]),
            "mota": number(m["mota"]), "false_positives": int(m["num_false_positives"]),
            "misses": int(m["num_misses"]), "hyp_ids": sorted(present), "spurious_ids": spurious,
            "hyp_frames": {h: present[h] for h in sorted(present)},
            "persons": persons}


def person_checks(summary: Mapping[str, Any], person: Hashable = DEMO_PERSON,
                  window: tuple[int, int] = DEMO_FLIP) -> dict[str, Any]:
    """One labelled person's ids over the video and the frames of `window` (inclusive) in which a
    hypothesis matched them, i.e. they had a pose. -> {ids: [[id, first, last], ...] (the segments
    that had an id), window, window_frames (labelled and scored), window_with_pose}."""
    p = summary["persons"][person]
    a, b = window
    inside = {f: v for f, v in p["per_frame"].items() if a <= f <= b}
    return {"ids": [s for s in p["segments"] if s[0] is not None], "window": [a, b],
            "window_frames": len(inside), "window_with_pose": sum(v is not None for v in inside.values())}


def public(summary: Mapping[str, Any]) -> dict[str, Any]:
    """A summary without the per-frame matches (for the JSON report)."""
    out = dict(summary)
    out["persons"] = {str(k): {kk: vv for kk, vv in v.items() if kk != "per_frame"}
                      for k, v in summary["persons"].items()}
    return out


# -- Pose2Sim ground truth ------------------------------------------------------------------------------
def joint_box(uv: np.ndarray, margin: float = GT_MARGIN) -> Box:
    """A person's box from their projected joints (J, 2) px (finite rows used): the extent grown by
    `margin` of its height on every side (joints are joint centres: the head top, hands and feet
    lie beyond them)."""
    uv = uv[np.isfinite(uv).all(-1)]
    lo, hi = uv.min(0), uv.max(0)
    pad = margin * (hi[1] - lo[1])
    return np.array([lo[0] - pad, lo[1] - pad, hi[0] + pad, hi[1] + pad])


def project_person(world: np.ndarray, cam: Any, min_inside: float = MIN_INSIDE,
                   margin: float = GT_MARGIN) -> Box | None:
    """One person's box in one view: world joints (17, 3) m (NaN where not triangulated) projected
    with the camera's distortion; None when fewer than `min_inside` of the finite joints land in
    front of the camera and inside its image. The box is clipped to the image."""
    from camerapose.core.camera import project, world_to_camera

    X = world_to_camera(cam, world[np.isfinite(world).all(-1)])
    if len(X) == 0:
        return None
    front = X[:, 2] > 0.1
    uv = project(cam, X[front])
    w, h = cam.image_size
    inside = (uv[:, 0] >= 0) & (uv[:, 0] < w) & (uv[:, 1] >= 0) & (uv[:, 1] < h)
    if inside.sum() < min_inside * len(X):
        return None
    box = joint_box(uv, margin)
    return np.clip(box, 0, [w, h, w, h])


def pose2sim_world(real: Mapping[str, np.ndarray], cams: Sequence[Any]) -> dict[tuple[int, int], np.ndarray]:
    """The real set's triangulated 3D in the world: (person, frame) -> (17, 3) m. Each row holds
    it in its own view's camera frame (gt3d = R X + t); a person-frame's rows share one X."""
    from camerapose.core.camera import camera_to_world

    out = {}
    for v, f, p, X in zip(real["view"], real["frame"], real["person"], real["gt3d"], strict=True):
        out.setdefault((int(p), int(f)), camera_to_world(cams[int(v)], np.asarray(X, dtype=np.float64)))
    return out


def pose2sim_gt(world: Mapping[tuple[int, int], np.ndarray], cam: Any, frames: int
                ) -> list[dict[Hashable, Box]]:
    """Per frame of one view, each person whose 3D projects into its image: "person N" -> box (N: the
    real set's person, one identity over views and time)."""
    out: list[dict[Hashable, Box]] = [{} for _ in range(frames)]
    for (p, f), X in sorted(world.items()):
        if f < frames and (box := project_person(X, cam)) is not None:
            out[f][f"person {p}"] = box
    return out


# -- running the tracker ---------------------------------------------------------------------------------
def decode(video: Path, limit: int | None = None) -> tuple[list[np.ndarray], float]:
    """Every frame of a video (the first `limit`), BGR, and its frame rate."""
    import cv2

    cap = cv2.VideoCapture(str(video))
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    out = []
    while limit is None or len(out) < limit:
        ok, frame = cap.read()
        if not ok:
            break
        out.append(frame)
    cap.release()
    if not out:
        raise CameraPoseError(f"{video}: no frame could be decoded")
    return out, float(fps)


def _boxes(persons: Iterable[Any]) -> dict[Hashable, Box]:
    return {int(p.id): np.asarray(p.box, dtype=np.float64) for p in persons}


def track_offline(frames: Sequence[np.ndarray], fps: float, cfg: Any = None, desc: str = "tracking"
                  ) -> list[dict[Hashable, Box]]:
    """The detector's persons on every frame, offline (deterministic), t = index / fps:
    per frame, track id -> box."""
    from camerapose.runtime.detect.base import DetectorConfig
    from camerapose.runtime.detect.registry import create_detector

    with create_detector(cfg or DetectorConfig()) as det:
        return [_boxes(det.detect([frame], [i / fps])[0])
                for i, frame in enumerate(tqdm(frames, desc=desc, unit="frame", leave=False, disable=None))]


def track_live(frames: Sequence[np.ndarray], fps: float, cfg: Any = None, desc: str = "live",
               clock: Callable[[], float] = time.perf_counter, sleep: Callable[[float], None] = time.sleep
               ) -> tuple[list[dict[Hashable, Box]], list[int]]:
    """The detector fed like a camera: frame i exists from time i / fps after the start; each detect
    takes the newest frame that exists (waiting for the next one when it is not there yet) with
    `live=True`; the frames that went by while a detect ran are dropped. -> (per frame, track id ->
    box; empty for a dropped frame), the indices processed)."""
    from camerapose.runtime.detect.base import DetectorConfig
    from camerapose.runtime.detect.registry import create_detector

    out: list[dict[Hashable, Box]] = [{} for _ in frames]
    done: list[int] = []
    with create_detector(cfg or DetectorConfig()) as det, \
            tqdm(total=len(frames), desc=desc, unit="frame", leave=False, disable=None) as bar:
        det.detect([frames[0]], [0.0], streams=["warm-up"])  # models loaded and warm before the clock starts
        start, i = clock(), 0
        while i < len(frames):
            newest = int((clock() - start) * fps)
            if newest < i:
                sleep(max(0.0, start + i / fps - clock()))
            i = max(i, newest)
            if i >= len(frames):
                break
            out[i] = _boxes(det.detect([frames[i]], [i / fps], live=True)[0])
            done.append(i)
            bar.update(i + 1 - bar.n)
            i += 1
    return out, done


def runtime_live(video: Path, port: int = 0, timeout_s: float = 180.0
                 ) -> tuple[list[dict[Hashable, Box]], list[int], list[str]]:
    """The whole runtime live on a video (`camerapose run VIDEO --save`: capture paced at the video's
    rate, frames dropped where a stage is busy, every stage in its own process), publishing on
    127.0.0.1:port (0: a free one). -> (per frame, track id -> box; empty for a frame not
    published), the frames published, the tracker's log of ids lost and found again)."""
    with tempfile.TemporaryDirectory(prefix="camerapose-tracking-") as tmp:
        saved = Path(tmp) / "live.jsonl"
        cmd = [sys.executable, "-m", "camerapose", "run", str(video), "--save", str(saved),
               "--publish", f"tcp://127.0.0.1:{port or free_port()}", "--stats-every", "0"]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
        if proc.returncode != 0:
            raise CameraPoseError(f"`camerapose run` failed ({proc.returncode}): "
                                  f"{(proc.stderr.strip().splitlines() or ['?'])[-1]}")
        msgs = [json.loads(line) for line in saved.read_text().splitlines() if line.strip()]
    frames = max((m["frame"] for m in msgs), default=-1) + 1
    out: list[dict[Hashable, Box]] = [{} for _ in range(frames)]
    for m in msgs:
        out[m["frame"]] = {int(p["id"]): np.asarray(p["box"], np.float64) for p in m["persons"]}
    events = [line.split("tracker: ", 1)[1] for line in proc.stderr.splitlines() if "tracker: " in line]
    return out, [m["frame"] for m in msgs], events


# -- the suite --------------------------------------------------------------------------------------------
def demo_offline(video: Path | None = None, labels_path: Path | str = LABELS, cfg: Any = None
                 ) -> dict[str, Any]:
    """The demo's offline tracking figures (the detector suite reports them too): the summary
    (`summarize`) plus `checks` (`person_checks` of the man over his backflip)."""
    labels = load_labels(labels_path)
    frames, fps = decode(_demo(video))
    gt = label_tracks(labels)
    if len(frames) != len(gt):
        raise CameraPoseError(f"the demo video has {len(frames)} frames, its labels {len(gt)}")
    summary = summarize(gt, track_offline(frames, fps, cfg, desc="tracking: demo"))
    summary["checks"] = person_checks(summary)
    return summary


def _demo(video: Path | None) -> Path:
    from camerapose.assets import asset_path

    return Path(video) if video is not None else asset_path("demo.mp4")


def _real_inputs() -> tuple[dict[str, np.ndarray], list[Any], list[str], list[Path]]:
    """The real set, its cameras, view names and videos; one CameraPoseError line when missing."""
    from camerapose.assets import cache_dir
    from camerapose.core.calibration import read_calibration
    from camerapose.real_set import CALIBRATION, OUTPUT

    cache = cache_dir()
    views = [f"cam0{i}" for i in range(1, 5)]
    needed = [cache / OUTPUT, cache / CALIBRATION] + [cache / VIEW_VIDEO.format(view=v) for v in views]
    missing = [p for p in needed if not p.is_file()]
    if missing:
        raise CameraPoseError(f"{missing[0]} is missing: {FETCH_HINT}")
    with np.load(cache / OUTPUT) as z:
        real = {k: z[k] for k in ("view", "frame", "person", "gt3d", "views")}
    cams = read_calibration(cache / CALIBRATION)
    names = [str(v) for v in real["views"]]
    if set(names) - set(cams):
        raise CameraPoseError(f"{cache / CALIBRATION}: no camera {sorted(set(names) - set(cams))[0]}")
    return real, [cams[n] for n in names], names, [cache / VIEW_VIDEO.format(view=v) for v in names]


def run(quick: bool = False, out_dir: Path = RESULTS_DIR, source: Path | None = None, port: int = 0
        ) -> Report:
    """The demo offline, live (the detector alone, then the whole runtime), the four Pose2Sim views
    offline; the caller writes the report. port: where the live runtime publishes (0: a free one)."""
    labels = load_labels()
    real, cams, view_names, view_videos = _real_inputs()  # fails fast, before any video is decoded
    demo = _demo(source)
    frames, fps = decode(demo)
    gt = label_tracks(labels)
    if len(frames) != len(gt):
        raise CameraPoseError(f"{demo}: {len(frames)} frames, the labels {LABELS.name} are of {len(gt)}: "
                              "the tracking suite runs on the demo video")
    videos: dict[str, dict[str, Any]] = {}
    timelines: dict[str, tuple[dict, Frames, list[int]]] = {}  # for the plot: summary, hypotheses, frames
    hyp = track_offline(frames, fps, desc="tracking: demo offline")
    videos["demo, offline"] = summarize(gt, hyp)
    videos["demo, offline"]["checks"] = person_checks(videos["demo, offline"])
    timelines["demo, offline"] = (videos["demo, offline"], hyp, list(range(len(gt))))
    live = []
    for r in range(QUICK_LIVE_RUNS if quick else LIVE_RUNS):
        hyp, done = track_live(frames, fps, desc=f"tracking: demo live {r + 1}")
        s = summarize(gt, hyp, done)
        s["checks"] = person_checks(s)
        s["dropped"] = len(frames) - len(done)
        live.append(s)
        if r == 0:
            timelines["demo, live run 1"] = (s, hyp, done)
    n_frames = len(frames)
    del frames  # 1.2 GB: not held while the runtime runs
    runtime = []
    for _ in tqdm(range(QUICK_LIVE_RUNS if quick else LIVE_RUNS), desc="tracking: `camerapose run` live",
                  unit="run", leave=False, disable=None):
        hyp, done, events = runtime_live(demo, port)
        hyp += [{} for _ in range(len(gt) - len(hyp))]
        s = summarize(gt, hyp, done)
        s["checks"] = person_checks(s)
        s["dropped"] = n_frames - len(done)
        s["tracker_log"] = events
        runtime.append(s)
    world = pose2sim_world(real, cams)
    for name, cam, video in zip(view_names, cams, view_videos, strict=True):
        view_frames, view_fps = decode(video, QUICK_VIEW_FRAMES if quick else None)
        vgt = pose2sim_gt(world, cam, len(view_frames))
        hyp = track_offline(view_frames, view_fps, desc=f"tracking: pose2sim {name}")
        videos[f"pose2sim {name}"] = summarize(vgt, hyp)
        timelines[f"pose2sim {name}"] = (videos[f"pose2sim {name}"], hyp, list(range(len(vgt))))
    return _report(videos, live, timelines, {"quick": quick, "video": demo, "views": view_names,
                                              "live_fps": fps, "runtime": runtime})


def _ids_text(segments: Sequence[Sequence[Any]]) -> str:
    return ", ".join(f"{s[0]}: {s[1]}-{s[2]}" for s in segments) or "none"


def _covered_text(s: Mapping[str, Any]) -> str:
    return ", ".join(f"{k} {100 * p['covered_frac']:.0f} % ({p['covered']}/{p['frames']})"
                     for k, p in s["persons"].items())


def _report(videos: dict[str, dict], live: list[dict], timelines: dict, meta: dict) -> Report:
    rep = Report("tracking", "Multi-person tracking: identities over time (MOT metrics)")
    quick = " QUICK run: 1 live run, the Pose2Sim views' first 30 frames." if meta["quick"] else ""
    rep.add_text(
        "The runtime's 2D detector with its default settings (`DetectorConfig()`), its track ids scored "
        "with py-motmetrics against known people: the demo video (`" + Path(meta["video"]).name + "`, 230 "
        "frames, 30 fps) against hand labels (`tests/data/demo_tracks.json`: per person the frames in view "
        "and keyframe boxes, interpolated), and the four views of Pose2Sim's multi-person demo (100 frames, "
        "60 fps) against boxes projected from the `real` set's triangulated 3D. A hypothesis matches a "
        f"person when the box centres are within {MATCH_DIST} of the labelled box's diagonal. Offline = "
        "every frame, deterministic; live = frames fed at the video's rate in real time (`live=True`), "
        "frames that go by during a detect are dropped and only processed frames are scored. Spurious "
        f"ids: hypothesis ids matched to a person in under {100 * SPURIOUS_SHARE:.0f} % of their frames."
        + quick)
    rows = []
    for name, s in videos.items():
        rows.append([name, s["frames"], s["id_switches"], s["fragmentations"], s["idf1"], s["mota"],
                     len(s["hyp_ids"]), _list(s["spurious_ids"]), _covered_text(s)])
    rep.add_table("Per video", ["video", "frames", "ID switches", "fragmentations", "IDF1", "MOTA",
                                "hypothesis ids", "spurious ids", "frames covered per person"], rows)
    demo = videos["demo, offline"]
    c = demo["checks"]
    rep.add_table("Demo: the man's identity", ["run", "his ids (frames)", "frames of 170-188 with a pose"],
                  [["offline", _ids_text(c["ids"]), f"{c['window_with_pose']} of {c['window_frames']}"]]
                  + [[f"live {k + 1}", _ids_text(s["checks"]["ids"]),
                      f"{s['checks']['window_with_pose']} of {s['checks']['window_frames']} processed"]
                     for k, s in enumerate(live)])
    rep.add_table(f"Demo, live at {meta['live_fps']:.0f} fps ({len(live)} run{'s' if len(live) > 1 else ''})",
                  ["run", "frames processed", "dropped", "ID switches", "IDF1", "hypothesis ids",
                   "spurious ids", "frames covered per person"],
                  [[k + 1, s["frames"], s["dropped"], s["id_switches"], s["idf1"], len(s["hyp_ids"]),
                    _list(s["spurious_ids"]), _covered_text(s)] for k, s in enumerate(live)])
    runtime = meta["runtime"]
    rep.add_table(f"Demo, the whole runtime live (`camerapose run VIDEO --save`, {len(runtime)} "
                  f"run{'s' if len(runtime) > 1 else ''}: every stage in its own process, capture paced at "
                  f"{meta['live_fps']:.0f} fps)",
                  ["run", "frames published", "dropped", "ID switches", "IDF1", "hypothesis ids",
                   "spurious ids", "the man's ids (frames)", "frames covered per person",
                   "the tracker's log (ids lost and found again)"],
                  [[k + 1, s["frames"], s["dropped"], s["id_switches"], s["idf1"], len(s["hyp_ids"]),
                    _list(s["spurious_ids"]), _ids_text(s["checks"]["ids"]), _covered_text(s),
                    "; ".join(s["tracker_log"]) or "-"]
                   for k, s in enumerate(runtime)])
    rep.add_plot("tracking_ids.png", _plot(timelines))
    rep.data.update({"quick": meta["quick"], "match": {"criterion": "centre distance / labelled box diagonal",
                                                      "max": MATCH_DIST},
                     "spurious_share": SPURIOUS_SHARE, "views": meta["views"],
                     "videos": {k: public(v) for k, v in videos.items()},
                     "live": [public(s) for s in live], "runtime_live": [public(s) for s in runtime]})
    return rep


def _list(ids: Sequence[Any]) -> str:
    return f"{len(ids)} ({', '.join(str(i) for i in ids)})" if ids else "0"


def _plot(timelines: Mapping[str, tuple[Mapping[str, Any], Frames, list[int]]]) -> Any:
    """Per video, one lane per labelled person: which hypothesis id matched them in each frame
    (colour and number per id; grey = in view, unmatched), and a lane of unmatched hypotheses."""
    plt = pyplot()
    heights = [len(s["persons"]) + 1 for s, _, _ in timelines.values()]
    fig, axes = plt.subplots(len(timelines), 1, figsize=(11, 0.45 * sum(heights) + 1.1 * len(heights)),
                             squeeze=False, gridspec_kw={"height_ratios": heights})
    cmap = plt.get_cmap("tab10")
    for ax, (title, (s, hyp, done)) in zip(axes[:, 0], timelines.items(), strict=True):
        lanes = list(s["persons"])
        matched = {(f, h) for p in s["persons"].values() for f, h in p["per_frame"].items() if h is not None}
        for y, name in enumerate(lanes):
            for h, a, b in s["persons"][name]["segments"]:
                ax.barh(y, b - a + 1, left=a - 0.5, height=0.6,
                        color="0.85" if h is None else cmap(h % 10), edgecolor="none")
                if h is not None:
                    ax.text(a, y, str(h), va="center", ha="left", fontsize=7)
        first: dict[int, int] = {}
        for f in done:
            for h in hyp[f]:
                if (f, h) not in matched:
                    ax.barh(len(lanes), 1, left=f - 0.5, height=0.6, color=cmap(int(h) % 10),
                            edgecolor="none")
                    first.setdefault(int(h), f)
        for h, f in first.items():
            ax.text(f, len(lanes), str(h), va="center", ha="left", fontsize=7)
        ax.set_yticks(range(len(lanes) + 1), [str(n) for n in lanes] + ["unmatched"], fontsize=8)
        ax.set_xlim(-1, len(hyp))
        ax.set_ylim(-0.6, len(lanes) + 0.6)
        ax.invert_yaxis()
        ax.set_title(f"{title}: IDF1 {s['idf1']:.2f}, {s['id_switches']} ID switches, "
                     f"{len(s['hyp_ids'])} ids", fontsize=9)
        ax.grid(axis="x", alpha=0.3)
    axes[-1, 0].set_xlabel("frame (colour and number: the tracker's id; grey: in view, no match)")
    fig.tight_layout()
    return fig
