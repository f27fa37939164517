"""BlazePose's landmark network (`pose_landmark_full.tflite`) on ai-edge-litert, and the multi-person
backend built on it with the person detector (`person_detector.py`, run by `person_search.py`).

- `LandmarkModel(crops)`: every person's 256x256 crop (RGB in [0, 1]) in ONE call (the input's
  batch dimension is resized to the number of crops), 39 landmarks in crop pixels, visibility and
  presence through a sigmoid, the pose flag, a per-landmark heatmap confidence, and the 39 "world
  landmarks" (MediaPipe's pose_world_landmarks: metric 3D, origin at the hips' centre, in the
  crop's axes; `world_to_frame_axes` turns them back into the frame's, see there).
  Batching saves only the per-call overhead (~5%): the network's work is linear in crops (one
  thread: batch 2 takes 2.00x the CPU time of batch 1) and 2 threads already keep both cores of
  a 2-core machine busy on one crop, so 2 persons cost ~1.9x one there, wherever the crops run.
- `BlazePoseDetector`: tracked persons' ROIs from their last landmarks, new persons from the
  person search, all crops of a frame through the landmark model at once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from camerapose.core.skeleton import to_h36m
from camerapose.engines.triton_runner import TritonTarget
from camerapose.runtime.detect import roi as roi_mod
from camerapose.runtime.detect import ssd
from camerapose.runtime.detect.base import Detector, DetectorConfig
from camerapose.runtime.detect.networks import open_network, sigmoid, to_rgb_float
from camerapose.runtime.detect.person_search import PersonSearch
from camerapose.runtime.detect.tracker import Observation, TrackState, box_extent

log = logging.getLogger(__name__)

LANDMARK_SIZE = 256
NUM_LANDMARKS = 39  # 33 body landmarks + 6 auxiliary (33 hip centre, 34 body radius point, ...)
HEATMAP_SIZE = 64


@dataclass(frozen=True)
class Landmarks:
    """Landmark model outputs for B crops; coordinates in crop pixels (0..256)."""

    xy: np.ndarray  # (B, 39, 2)
    z: np.ndarray  # (B, 39)
    visibility: np.ndarray  # (B, 39) in [0, 1]
    presence: np.ndarray  # (B, 39) in [0, 1]
    heat: np.ndarray  # (B, 39) heatmap peak near each landmark, in [0, 1]
    pose_score: np.ndarray  # (B,) the pose flag in [0, 1]
    world: np.ndarray  # (B, 39, 3) metres, crop axes (x right, y down, z away), origin ~ hip centre


class LandmarkModel:
    """BlazePose full landmark model: (B, 256, 256, 3) float32 RGB in [0, 1] -> Landmarks."""

    def __init__(self, path: Path, threads: int = 2, refine_kernel: int = 7, min_refine: float = 0.5,
                 onnx: str | Path = "", runtime: str = "litert", triton: TritonTarget | None = None) -> None:
        """path: the .tflite; onnx: its ONNX copy; runtime: `detector.backend_runtime`; triton: the
        server and model with runtime "triton" (`DetectorConfig.triton_target`)."""
        self._model = open_network(
            str(path), str(onnx), runtime, threads, "BlazePose landmark model",
            (LANDMARK_SIZE, LANDMARK_SIZE, 3),
            {"Identity": (NUM_LANDMARKS * 5,), "Identity_1": (1,),
             "Identity_3": (HEATMAP_SIZE, HEATMAP_SIZE, NUM_LANDMARKS),
             "Identity_4": (NUM_LANDMARKS * 3,)}, triton=triton)
        self.refine_kernel = refine_kernel
        self.min_refine = min_refine

    @property
    def backend(self) -> str:
        return self._model.backend

    def close(self) -> None:
        self._model.close()

    def __call__(self, batch: np.ndarray) -> Landmarks:
        out = self._model(batch)
        raw = out["Identity"].reshape(-1, NUM_LANDMARKS, 5)
        xy, heat = refine_from_heatmap(raw[:, :, :2], out["Identity_3"], self.refine_kernel,
                                       self.min_refine)
        return Landmarks(xy=xy, z=raw[:, :, 2], visibility=sigmoid(raw[:, :, 3]),
                         presence=sigmoid(raw[:, :, 4]), heat=heat,
                         pose_score=out["Identity_1"].reshape(-1).astype(np.float32),
                         world=out["Identity_4"].reshape(-1, NUM_LANDMARKS, 3).astype(np.float32))


def world_to_frame_axes(world: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """World landmarks from a rotated crop's axes into the frame's (= the camera's) orientation.

    world (B, L, 3) metres as the landmark model gives them: x along the crop's +x, y along its
    +y (down), z away from the camera (smaller = nearer, as MediaPipe's landmark z), origin at
    the hips' centre. The crop is the ROI rotated by `rotation` (B,) radians (`roi`: crop +x =
    (cos r, sin r), +y = (-sin r, cos r) in the frame), so only x, y turn with it: z, the viewing
    axis, is shared; scale and translation do not apply to metric, hip-centred points (MediaPipe
    does the same on its world landmarks). -> (B, L, 3) float32: x right, y down, z away from the
    camera (checked on the demo: the torso's direction in these x, y and in the 2D keypoints
    agree to 0.6 deg median over ROIs turned up to 1.5 rad). Not corrected, as the intrinsics
    are unknown here: a person off the optical axis is seen along their own ray, so for them
    these axes are the camera's turned by up to that ray's angle (0.5 rad at the edge of a
    60 degree view).
    """
    c, s = np.cos(rotation)[:, None], np.sin(rotation)[:, None]
    x, y = world[..., 0], world[..., 1]
    return np.stack([c * x - s * y, s * x + c * y, world[..., 2]], -1).astype(np.float32)


def refine_from_heatmap(xy: np.ndarray, heatmap: np.ndarray, kernel: int = 7, min_conf: float = 0.5,
                        size: int = LANDMARK_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """MediaPipe's heatmap refinement, plus the heatmap peak as a per-landmark confidence.

    xy (B, L, 2) crop pixels; heatmap (B, h, w, L) logits. In a kernel x kernel window of the
    sigmoid heatmap centred on each landmark: where the window's peak reaches `min_conf`, the
    landmark moves to the window's confidence-weighted centroid. -> refined xy (B, L, 2) and the
    window peak (B, L) in [0, 1] (0 where the landmark is off the heatmap).
    """
    b, h, w, n = heatmap.shape
    half = kernel // 2
    # Heatmap cell of each landmark; like MediaPipe, a cell stands for its corner (i * size / w), not
    # its centre: that is what the reference pipeline outputs, and parity is worth more here.
    cx = np.floor(xy[..., 0] / size * w).astype(np.int64)
    cy = np.floor(xy[..., 1] / size * h).astype(np.int64)
    offs = np.arange(-half, half + 1)
    gx = cx[..., None] + offs  # (B, L, k)
    gy = cy[..., None] + offs
    vx = (gx >= 0) & (gx < w)
    vy = (gy >= 0) & (gy < h)
    bi = np.arange(b)[:, None, None, None]
    li = np.arange(n)[None, :, None, None]
    # Gather each landmark's window first: the sigmoid then runs on B*L*k*k values, not the whole map.
    win = heatmap[bi, np.clip(gy, 0, h - 1)[..., :, None], np.clip(gx, 0, w - 1)[..., None, :], li]
    win = sigmoid(win.astype(np.float32)) * (vy[..., :, None] & vx[..., None, :])  # (B, L, k, k)
    peak = win.max(axis=(-1, -2))
    total = win.sum(axis=(-1, -2))
    safe = np.maximum(total, 1e-12)
    mx = ((win.sum(-2) * gx).sum(-1) / safe) * (size / w)
    my = ((win.sum(-1) * gy).sum(-1) / safe) * (size / h)
    refine = (peak >= min_conf) & (total > 0)
    out = xy.copy()
    out[..., 0] = np.where(refine, mx, xy[..., 0])
    out[..., 1] = np.where(refine, my, xy[..., 1])
    return out.astype(np.float32), peak.astype(np.float32)


# -- the multi-person pipeline -------------------------------------------------------------------

AUX_HIP_CENTER, AUX_SCALE_POINT = 33, 34  # landmarks MediaPipe aligns its tracking ROI on
_BODY = slice(0, 33)


@dataclass(frozen=True)
class _Found:
    """What the backend keeps of one observed person beside the tracker's observation."""

    roi: np.ndarray  # (5,) the person's ROI in the next frame
    det3d: np.ndarray  # (17, 3) float32 metres, frame axes, pelvis at 0 (`world_h36m`)


def world_h36m(world: np.ndarray) -> np.ndarray:
    """World landmarks (M, 39, 3) -> H36M-17 (M, 17, 3) float32, pelvis at exactly 0.

    The same BlazePose-33 map as the 2D keypoints (`core.skeleton`: pelvis = mid-hips, thorax =
    mid-shoulders, spine = their midpoint, head = mid-eyes); the model's own origin is its hip
    centre, within millimetres of our mid-hips, and subtracting ours makes it exact.
    """
    w17, _ = to_h36m(world[:, _BODY].astype(np.float32), "blazepose33")
    return (w17 - w17[:, :1]).astype(np.float32)


# A lost person is searched for (the landmark ring, and the person detector at once) while lost
# for at most this long; after it, the person detector's usual cadence looks for them.
LOST_SEARCH_S = 0.5
RING_SCALE = 2.5  # a pose the ring finds is kept when its size is within this factor of the track's
RING_MARGIN = 0.25  # ... and only where the last ROI's centre is this share of its side inside the frame
RING_OFFSET = 0.4  # ... and its hips within this share of the ROI's side from the ROI's centre
# ... and turned at most (a + b * seconds since the track was seen, at most c) from its predicted
# rotation: 80 degrees at 60 fps, 100 at 30 fps, 150 after 0.1 s
RING_TURN = tuple(np.radians([60.0, 1200.0, 150.0]))
RING = 8  # rotations the landmark model tries on a lost person's predicted ROI (every 45 degrees)


@dataclass
class StreamState:
    frames: int = 0  # frames seen since the last detector run
    rois: dict[int, np.ndarray] | None = None  # track id -> next frame's ROI (5,)
    weakest: float = 1.0  # lowest pose score of the last frame
    lost: bool = False  # a track went unseen in a recent frame (LOST_SEARCH_S)
    kept: dict[int, np.ndarray] | None = None  # track id -> last ROI (5,) of a track not seen since


class BlazePoseDetector(Detector):
    """Multi-person BlazePose: the SSD person detector every N frames (`person_search`, in the
    background by default), the landmark model on all tracked and found ROIs in one call."""

    STREAM_STATE = (*Detector.STREAM_STATE, "_state")

    def __init__(self, cfg: DetectorConfig) -> None:
        super().__init__(cfg)
        self.landmark_model = LandmarkModel(cfg.tflite(cfg.landmark_model, "BlazePose landmark model"),
                                            cfg.threads, 7 if cfg.heatmap_refine else 1,
                                            0.5 if cfg.heatmap_refine else 2.0,
                                            cfg.landmark_onnx, cfg.backend_runtime,
                                            cfg.triton_target(cfg.triton_landmark_model))
        self.search = PersonSearch(cfg, background=cfg.person_search == "async")
        self._state: dict[str, StreamState] = {}
        self.last_stats: dict[str, float] = {}

    def close(self) -> None:
        super().close()
        self.landmark_model.close()
        self._state.clear()

    def _stream(self, name: str) -> StreamState:
        return self._state.setdefault(name, StreamState())

    def needs_detection(self, st: StreamState) -> bool:
        return (not st.rois or st.lost or st.frames + 1 >= self.cfg.detect_every
                or st.weakest < self.cfg.redetect_score)

    def _find(self, frames: list[np.ndarray], streams: list[str], timestamps: list[float], live: bool
              ) -> list[list[tuple[Observation, object]]]:
        rois_per_frame, sources, searches = [], [], 0
        for frame, s, t in zip(frames, streams, timestamps, strict=True):
            st = self._stream(s)
            # Look for a lost person while their track lives: the landmark model gave up on them
            # (e.g. mid-jump), the detector may still see them, and in time to keep their id.
            st.lost = any(t - tr.t <= LOST_SEARCH_S for tr in self.tracker(s).lost(t))
            # Waited for when someone is missing: on the demo, live on 2 cores, a lost person's
            # search in the background kept both people on 68 % of frames, waited for 80 % (as
            # before), and the tail stayed short (a lost frame has one crop fewer to run).
            urgent = not st.rois or st.lost
            kp, started = self.search.step(s, frame, self.needs_detection(st), urgent, live)
            st.frames = 0 if started else st.frames + 1
            searches += started
            found = (np.zeros((0, 5), np.float32) if kp is None
                     else roi_mod.roi_from_alignment(kp[:, 0], kp[:, 1], self.cfg.roi_enlarge))
            rois, src = merge_rois(st.rois or {}, found, self.cfg.max_persons)
            rois_per_frame.append(rois)
            sources.append(src)
        obs = self._landmarks(frames, rois_per_frame, sources)
        for s, o in zip(streams, obs, strict=True):
            self._stream(s).weakest = min((ob.score for ob, _ in o), default=0.0)
        crops = self._lost_search(frames, streams, timestamps, rois_per_frame, sources, obs) \
            if self.cfg.lost_search else 0
        self.last_stats = {"detector_frames": float(searches),
                           "rois": float(sum(len(r) for r in rois_per_frame)), "search_crops": float(crops)}
        return obs

    def _lost_search(self, frames: list[np.ndarray], streams: list[str], timestamps: list[float],
                     rois: list[np.ndarray], sources: list[list[int | None]],
                     obs: list[list[tuple[Observation, object]]]) -> int:
        """Find the persons the landmark model just lost, or lost within LOST_SEARCH_S: upside down,
        blurred, in glare. Each one's ROI is moved and turned as their track predicts, and the
        landmark model runs on it at RING rotations (a flip turns a body faster than the ROI
        follows: on the demo's backflip the tracked ROI loses the man on 6 frames of 20, the ring
        finds him on all 20; the person detector on the same region turned by 0/90/180/270 degrees
        found him on 15). The best pose of each that passes `min_pose_score` and `_plausible` joins
        `obs` (in place) with its track's id as the hint. -> crops run."""
        targets = [self._ring_targets(*args)
                   for args in zip(frames, streams, timestamps, rois, sources, obs, strict=True)]
        ring_rois = [np.concatenate([roi_ring(p, RING) for p in tg.values()]) if tg
                     else np.zeros((0, 5), np.float32) for tg in targets]
        total = sum(len(r) for r in ring_rois)
        if total == 0:
            return 0
        ring_ids: list[list[int | None]] = [[tid for tid in tg for _ in range(RING)] for tg in targets]
        found = self._landmarks(frames, ring_rois, ring_ids)
        for frame, s, t, o, f, tg in zip(frames, streams, timestamps, obs, found, targets, strict=True):
            tracks = {tr.id: tr for tr in self.tracker(s).tracks}
            taken: set[int | None] = set()
            for ob, extra in f:  # best first (`_observations`); no hint: two targets' rings met
                if ob.hint is None or ob.hint in taken:
                    continue
                if not self._plausible(ob, extra, tg[ob.hint], tracks[ob.hint], o, frame.shape[1],
                                       frame.shape[0], t):
                    continue
                taken.add(ob.hint)
                o.append((ob, extra))
        return total

    def _ring_targets(self, frame: np.ndarray, stream: str, t: float, rois: np.ndarray,
                      sources: list[int | None], obs: list[tuple[Observation, object]]
                      ) -> dict[int, np.ndarray]:
        """Who to search for in this frame: track id -> predicted ROI (5,). The confirmed tracks
        whose ROI gave no pose, then those lost within LOST_SEARCH_S, as many as max_persons leaves
        room for, whose predicted ROI is well inside the frame."""
        seen = {ob.hint for ob, _ in obs}
        tracker, st = self.tracker(stream), self._stream(stream)
        last = {tid: rois[k] for k, tid in enumerate(sources)
                if tid is not None and tid > 0 and tid not in seen}
        for tr in tracker.lost(t):
            if t - tr.t <= LOST_SEARCH_S and tr.id not in last and st.kept and tr.id in st.kept:
                last[tr.id] = st.kept[tr.id]
        tracks = {tr.id: tr for tr in tracker.tracks}
        h, w = frame.shape[:2]
        out = {}
        for tid, roi in list(last.items())[:max(self.cfg.max_persons - len(obs), 0)]:
            if tid not in tracks:
                continue
            m = RING_MARGIN * roi[2]
            # Leaving the view: there the ring fits whole skeletons onto a hand or a head at the
            # edge (the demo's walker, frames 200-227); the person detector finds them if they return.
            if m <= roi[0] < w - m and m <= roi[1] < h - m:
                out[tid] = predicted_roi(roi, tracks[tid], t, self.cfg.tracker.coast_s)
        return out

    def _plausible(self, ob: Observation, extra: _Found, pred: np.ndarray, track: TrackState,
                   found: list[tuple[Observation, object]], width: int, height: int, t: float) -> bool:
        """Is a pose the ring found (with its next ROI in `extra`) the person of `track`, searched
        at the predicted ROI pred (5,)? Not when it is a person already found this frame, when its
        size is off the track's by RING_SCALE (a whole skeleton fitted onto a hand or a head), or
        when its hips are off the frame (width x height) or far off the crop's centre (someone, or
        something, else: the sun through a tree, live on the demo), or when it is turned more than
        RING_TURN from the predicted rotation (t: the frame's time)."""
        if found and same_pose(ob.box, ob.keypoints[0], np.stack([p.box for p, _ in found]),
                                 np.stack([p.keypoints[0] for p, _ in found]), self.cfg.duplicate_iou).any():
            return False
        grown = box_extent(ob.box) / box_extent(track.box)
        if not 1 / RING_SCALE <= grown <= RING_SCALE:
            return False
        x, y = extra.roi[:2]
        if not (0 <= x < width and 0 <= y < height):  # hips off the frame: a live run's false pose
            return False
        # A body turned over against its track's predicted rotation is the model reading an
        # upright person upside down (Pose2Sim's cam03: a kicking man, then the woman behind him,
        # 176 degrees at 60 fps); how far a real body turns grows with the time since it was seen
        # (a live run's dropped frames: 136 degrees in 3 frames of the demo's backflip).
        turn = min(RING_TURN[0] + RING_TURN[1] * max(t - track.t, 0.0), RING_TURN[2])
        if abs(float(roi_mod.normalize_angle(extra.roi[4] - pred[4]))) > turn:
            return False
        return float(np.linalg.norm(extra.roi[:2] - pred[:2])) <= RING_OFFSET * float(pred[2])

    def _landmarks(self, frames: list[np.ndarray], rois: list[np.ndarray], sources: list[list[int | None]]
                   ) -> list[list[tuple[Observation, object]]]:
        """All ROIs of all frames through the landmark model in ONE call -> observations per frame."""
        total = sum(len(r) for r in rois)
        if total == 0:
            return [[] for _ in frames]
        mats = [roi_mod.crop_to_frame(r, LANDMARK_SIZE) for r in rois]
        crops = np.empty((total, LANDMARK_SIZE, LANDMARK_SIZE, 3), np.uint8)
        k = 0
        for f, m in zip(frames, mats, strict=True):
            roi_mod.warp_crops(f, m, LANDMARK_SIZE, out=crops[k:k + len(m)])
            k += len(m)
        lm = self.landmark_model(to_rgb_float(crops, 1.0 / 255.0, 0.0))  # RGB in [0, 1]
        xy = roi_mod.apply_affine(np.concatenate(mats), lm.xy.astype(np.float64))
        world = world_to_frame_axes(lm.world, np.concatenate(rois)[:, 4])
        out, k = [], 0
        for m, src in zip(mats, sources, strict=True):
            sl = slice(k, k + len(m))
            k += len(m)
            out.append(self._observations(xy[sl], world[sl], lm, sl, src))
        return out

    def _observations(self, xy: np.ndarray, world: np.ndarray, lm: Landmarks, sl: slice,
                      sources: list[int | None]) -> list[tuple[Observation, object]]:
        """One frame's landmark outputs -> kept, de-duplicated persons with their next ROI and
        world pose. xy (M, 39, 2) frame pixels, world (M, 39, 3) metres in frame axes."""
        vis, heat, score = lm.visibility[sl], lm.heat[sl], lm.pose_score[sl]
        conf33 = {"heatmap": heat, "visibility": vis, "product": heat * vis}[self.cfg.confidence][:, _BODY]
        kp17, conf17 = to_h36m(xy[:, _BODY].astype(np.float32), "blazepose33", conf33.astype(np.float32))
        world17 = world_h36m(world)
        next_rois = roi_mod.roi_from_alignment(xy[:, AUX_HIP_CENTER], xy[:, AUX_SCALE_POINT],
                                               self.cfg.roi_enlarge)
        boxes = np.concatenate([xy[:, _BODY].min(1), xy[:, _BODY].max(1)], -1).astype(np.float32)
        kept: list[int] = []
        # Tracked ROIs first (the pose scores saturate near 1, and a fresh detection of a tracked
        # person can land on the mirrored, front/back-swapped pose), then by pose score.
        tracked = np.array([s is not None for s in sources], bool)
        hints = list(sources)
        for j in np.lexsort((-score, ~tracked)):
            if score[j] < self.cfg.min_pose_score:
                continue
            dup = same_pose(boxes[j], kp17[j, 0], boxes[kept], kp17[kept, 0], self.cfg.duplicate_iou) \
                if kept else np.zeros(0, bool)
            if dup.any():
                # Two ROIs converged onto one person: which track it continues is no longer known
                # from its ROI (Pose2Sim's cam03: the man's ROI slid onto the woman and took her id
                # by its hint), so the tracker decides by motion and colours.
                for k in np.asarray(kept)[dup]:
                    if hints[k] != sources[j]:
                        hints[k] = None
                continue
            kept.append(int(j))
        return [(Observation(kp17[j], np.clip(conf17[j], 0, 1), boxes[j], float(score[j]), hints[j]),
                 _Found(next_rois[j], world17[j])) for j in kept]

    def _remember(self, stream: str, track_id: int, extra: object) -> None:
        st = self._stream(stream)
        st.rois = st.rois or {}
        st.rois[track_id] = np.asarray(extra.roi if isinstance(extra, _Found) else extra, np.float32)
        if st.kept:
            st.kept.pop(track_id, None)

    def _det3d(self, extra: object) -> np.ndarray | None:
        return extra.det3d if isinstance(extra, _Found) else None

    def _forget(self, stream: str) -> None:
        """The last frame's ROIs become the kept ROIs of tracks the tracker still keeps (a person seen
        this frame is moved back by `_remember`)."""
        st = self._stream(stream)
        live = {tr.id for tr in self.tracker(stream).tracks}
        kept = {**(st.kept or {}), **(st.rois or {})}
        st.kept = {tid: roi for tid, roi in kept.items() if tid in live}
        st.rois = {}


def predicted_roi(roi: np.ndarray, track: TrackState, t: float, coast_s: float) -> np.ndarray:
    """A ROI (5,) of `track`'s last pose moved and turned as the track predicts at time t. The move
    is at most half the ROI's side: a flip's erratic poses give velocities no body keeps up."""
    kp, _, angle = track.predict(t, coast_s)
    out = np.asarray(roi, np.float32).copy()
    shift = kp[0] - track.keypoints[0]  # the pelvis' motion
    shift *= min(1.0, 0.5 * float(roi[2]) / max(float(np.linalg.norm(shift)), 1e-9))
    out[:2] += shift.astype(np.float32)
    out[4] = roi_mod.normalize_angle(out[4] + angle - track.angle)
    return out


def same_pose(box: np.ndarray, pelvis: np.ndarray, boxes: np.ndarray, pelvises: np.ndarray, max_iou: float
              ) -> np.ndarray:
    """Which of the poses (boxes (N, 4), pelvises (N, 2)) are the pose of box (4,) and pelvis (2,)
    again: boxes overlapping more than max_iou, or one box inside the other (70 % of its area) with
    the pelvises within 15 % of the larger box's longer side: a tracked ROI that drifted onto
    someone else and shrank there (Pose2Sim's cam03, a kicking man's ROI sliding onto the woman
    behind him), whose box IoU with theirs stays low. -> (N,) bool."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    box = np.asarray(box, np.float64)
    iou, inside = ssd.overlaps(box, boxes)
    extent = np.maximum(np.max(boxes[:, 2:] - boxes[:, :2], axis=1), float(np.max(box[2:] - box[:2])))
    near = np.linalg.norm(np.asarray(pelvises, np.float64).reshape(-1, 2) - pelvis, axis=1) < 0.15 * extent
    return (iou > max_iou) | ((inside >= 0.7) & near)


def roi_ring(roi: np.ndarray, n: int) -> np.ndarray:
    """The ROI (5,) at n rotations, its own first, then every 360/n degrees. -> (n, 5) float32."""
    out = np.repeat(np.asarray(roi, np.float32)[None], n, 0)
    out[:, 4] = roi_mod.normalize_angle(out[:, 4] + 2 * np.pi * np.arange(n) / n)
    return out


def merge_rois(tracked: dict[int, np.ndarray], detected: np.ndarray, max_persons: int,
               max_offset: float = 0.4) -> tuple[np.ndarray, list[int | None]]:
    """Tracked ROIs first, then detected ones of persons not tracked yet (`roi.same_person`).

    tracked: track id -> ROI (5,); detected (D, 5). -> ROIs (M <= max_persons, 5) and, per ROI,
    the track id it came from (None for a new detection).
    """
    ids: list[int | None] = list(tracked)[:max_persons]
    rois = [np.asarray(tracked[i], np.float32) for i in ids]
    for d in detected:
        if len(rois) >= max_persons:
            break
        if rois and roi_mod.same_person(d, np.stack(rois), max_offset).any():
            continue  # a tracked person seen again: a second crop would only be dropped as a duplicate
        rois.append(d.astype(np.float32))
        ids.append(None)
    return (np.stack(rois) if rois else np.zeros((0, 5), np.float32)), ids
