"""The two BlazePose networks (`pose_detection.tflite`, `pose_landmark_full.tflite`) on ai-edge-litert.

Pure pre/post-processing around the networks:
- `PersonDetector(batch)`: 224x224 RGB views in [-1, 1], one call per view (this graph cannot
  batch, see below), SSD decoding + weighted NMS, boxes and the 4 alignment keypoints (0 hip
  centre, 1 a point above the head giving the body radius, 2 shoulder centre, 3 upper-body radius
  point). `PersonDetector.find(frames)`: the views of each frame (the whole frame letterboxed, plus
  square tiles of a wide frame, where people look 1.8x larger) and one detection per person.
- `LandmarkModel(crops)`: every person's 256x256 crop (RGB in [0, 1]) in ONE call (the input's
  batch dimension is resized to the number of crops), 39 landmarks in crop pixels, visibility and
  presence through a sigmoid, the pose flag, a per-landmark heatmap confidence, and the 39 "world
  landmarks" (MediaPipe's pose_world_landmarks: metric 3D, origin at the hips' centre, in the
  crop's axes; `world_to_frame_axes` turns them back into the frame's, see there).
  Batching saves only the per-call overhead (~5%): the network's work is linear in crops (one
  thread: batch 2 takes 2.00x the CPU time of batch 1) and 2 threads already keep both cores of
  a 2-core machine busy on one crop, so 2 persons cost ~1.9x one there, wherever the crops run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from camerapose.core.errors import ModelError
from camerapose.core.skeleton import to_h36m
from camerapose.runtime.detect import roi as roi_mod
from camerapose.runtime.detect import ssd
from camerapose.runtime.detect.base import Detector, DetectorConfig, model_path
from camerapose.runtime.detect.tracker import Observation

log = logging.getLogger(__name__)

DETECTOR_SIZE = 224
LANDMARK_SIZE = 256
NUM_LANDMARKS = 39  # 33 body landmarks + 6 auxiliary (33 hip centre, 34 body radius point, ...)
HEATMAP_SIZE = 64


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -80.0, 80.0)))


class _TFLiteModel:
    """One .tflite model on ai-edge-litert whose input batch dimension follows the batch given."""

    def __init__(self, path: Path, threads: int, input_shape: tuple[int, ...],
                 outputs: dict[str, tuple[int, ...]]) -> None:
        from ai_edge_litert.interpreter import Interpreter

        path = Path(path)
        if not path.is_file():
            raise ModelError(f"{path}: no such model file; run `camerapose assets fetch`")
        try:
            self._it = Interpreter(model_path=str(path), num_threads=threads)
            self._it.allocate_tensors()
        except Exception as err:  # the interpreter raises ValueError/RuntimeError on bad flatbuffers
            raise ModelError(f"{path}: not a loadable TFLite model ({str(err).splitlines()[0]})") from err
        ins = self._it.get_input_details()
        if len(ins) != 1 or tuple(ins[0]["shape"][1:]) != input_shape:
            got = [tuple(d["shape"]) for d in ins]
            raise ModelError(f"{path}: expected one input (1, {', '.join(map(str, input_shape))}), got {got}")
        self._input = ins[0]["index"]
        by_name = {d["name"]: d for d in self._it.get_output_details()}
        for name, shape in outputs.items():
            if name not in by_name or tuple(by_name[name]["shape"][1:]) != shape:
                have = {n: tuple(d["shape"]) for n, d in by_name.items()}
                raise ModelError(f"{path}: expected output {name} of shape (1, {shape}), got {have}")
        self._outputs = {name: by_name[name]["index"] for name in outputs}
        self._input_shape = input_shape
        self._batch = 1
        self.path = path

    def __call__(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """(B, *input_shape) float32 -> {output name: (B, ...) array}."""
        if batch.shape[0] != self._batch:
            self._it.resize_tensor_input(self._input, [batch.shape[0], *self._input_shape])
            self._it.allocate_tensors()
            self._batch = batch.shape[0]
        self._it.set_tensor(self._input, np.ascontiguousarray(batch, dtype=np.float32))
        self._it.invoke()
        return {name: self._it.get_tensor(i) for name, i in self._outputs.items()}  # already copies


@dataclass(frozen=True)
class Detections:
    """Persons found in one frame, by descending score; all in the detector's normalised input."""

    boxes: np.ndarray  # (M, 4) x0, y0, x1, y1
    scores: np.ndarray  # (M,)
    keypoints: np.ndarray  # (M, 4, 2)


class PersonDetector:
    """BlazePose's SSD person detector: (B, 224, 224, 3) float32 RGB in [-1, 1] -> detections."""

    def __init__(self, path: Path, threads: int = 2, min_score: float = 0.5, nms_iou: float = 0.3) -> None:
        self.anchors = ssd.generate_anchors(ssd.AnchorConfig())
        n = self.anchors.shape[0]
        self._model = _TFLiteModel(path, threads, (DETECTOR_SIZE, DETECTOR_SIZE, 3),
                                   {"Identity": (n, 12), "Identity_1": (n, 1)})
        self.min_score = min_score
        self.nms_iou = nms_iou

    def __call__(self, batch: np.ndarray, max_persons: int) -> list[Detections]:
        # One image per call: the graph concatenates its heads after flattening the batch into the
        # anchor axis (a batch of B gives (1, B*2254, 12), not batch-major), so it cannot batch.
        out = [self._model(batch[i:i + 1]) for i in range(batch.shape[0])]
        return [self.postprocess(o["Identity"][0], o["Identity_1"][0], max_persons) for o in out]

    def find(self, frames: list[np.ndarray], max_persons: int, tiles: str = "off"
             ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Persons in BGR frames, each seen whole and, per `tiles`, in square tiles (`detector_views`).

        -> per frame: alignment keypoints (M, 4, 2) in frame pixels and scores (M,); one person
        seen in several views is kept once: from a tile when a tile saw them (the finer view places
        the hip and the body radius better: whole-frame ROIs of the same person run up to 1.4x
        larger and fail the landmark model more often), else from the whole frame. Tile detections
        come first, each group by descending score.
        """
        views = [detector_views(f.shape[1], f.shape[0], tiles) for f in frames]
        batch = np.empty((sum(len(v) for v in views), DETECTOR_SIZE, DETECTOR_SIZE, 3), np.uint8)
        k = 0
        for f, v in zip(frames, views, strict=True):
            roi_mod.warp_crops(f, v, DETECTOR_SIZE, out=batch[k:k + len(v)])
            k += len(v)
        dets = self(to_rgb_float(batch, 2.0 / 255.0, -1.0), max_persons)  # RGB in [-1, 1]
        out, k = [], 0
        for v in views:
            mine = dets[k:k + len(v)]
            k += len(v)
            kp = np.concatenate([_to_frame(m, d.keypoints) for m, d in zip(v, mine, strict=True)])
            sc = np.concatenate([d.scores for d in mine])
            rank = sc + np.repeat(np.arange(len(v)) > 0, [len(d.scores) for d in mine])  # tiles first
            keep = roi_mod.distinct_persons(roi_mod.roi_from_alignment(kp[:, 0], kp[:, 1]), rank, max_persons)
            out.append((kp[keep].astype(np.float32), sc[keep]))
        return out

    def postprocess(self, raw: np.ndarray, logits: np.ndarray, max_persons: int) -> Detections:
        """raw (2254, 12), logits (2254, 1) of one image -> Detections after weighted NMS."""
        scores = ssd.sigmoid_scores(logits)
        keep = scores >= self.min_score
        boxes, kps = ssd.decode(raw[keep], self.anchors[keep], 4, (DETECTOR_SIZE, DETECTOR_SIZE))
        b, s, k = ssd.weighted_nms(boxes, scores[keep], kps, self.nms_iou, max_persons)
        return Detections(b, s, k)


def _to_frame(m: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Normalised detector points (N, K, 2) through its crop -> frame map m (2, 3). -> (N, K, 2) px."""
    return roi_mod.apply_affine(np.repeat(m[None], len(points), 0), points * DETECTOR_SIZE)


# Tiling pays from this aspect ratio on: at 16:9 tiles show people 1.8x larger than the letterbox
# (on the demo video the detector then finds both people on 76 of 126 frames instead of 4); at 4:3
# only 1.33x, for 3x the detector time.
AUTO_TILE_ASPECT = 1.5


def detector_views(width: int, height: int, tiles: str = "auto") -> np.ndarray:
    """The detector's views of a frame: the whole frame letterboxed, then (unless `tiles` is "off",
    or "auto" on a frame narrower than AUTO_TILE_ASPECT) square tiles of its short side that overlap
    by at least half a side (`roi.square_tiles`). -> (V, 2, 3) crop -> frame maps of 224x224 crops.
    """
    full = roi_mod.letterbox(width, height, DETECTOR_SIZE)[None]
    aspect = max(width, height) / max(min(width, height), 1)
    if tiles == "off" or aspect <= 1.0 or (tiles == "auto" and aspect < AUTO_TILE_ASPECT):
        return full
    return np.concatenate([full, roi_mod.crop_to_frame(roi_mod.square_tiles(width, height), DETECTOR_SIZE)])


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

    def __init__(self, path: Path, threads: int = 2, refine_kernel: int = 7, min_refine: float = 0.5) -> None:
        self._model = _TFLiteModel(
            path, threads, (LANDMARK_SIZE, LANDMARK_SIZE, 3),
            {"Identity": (NUM_LANDMARKS * 5,), "Identity_1": (1,),
             "Identity_3": (HEATMAP_SIZE, HEATMAP_SIZE, NUM_LANDMARKS),
             "Identity_4": (NUM_LANDMARKS * 3,)})
        self.refine_kernel = refine_kernel
        self.min_refine = min_refine

    def __call__(self, batch: np.ndarray) -> Landmarks:
        out = self._model(batch)
        raw = out["Identity"].reshape(-1, NUM_LANDMARKS, 5)
        xy, heat = refine_from_heatmap(raw[:, :, :2], out["Identity_3"], self.refine_kernel,
                                       self.min_refine)
        return Landmarks(xy=xy, z=raw[:, :, 2], visibility=_sigmoid(raw[:, :, 3]),
                         presence=_sigmoid(raw[:, :, 4]), heat=heat,
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
    win = _sigmoid(win.astype(np.float32)) * (vy[..., :, None] & vx[..., None, :])  # (B, L, k, k)
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
    world: np.ndarray  # (17, 3) float32 metres, frame axes, pelvis at 0 (`world_h36m`)


def world_h36m(world: np.ndarray) -> np.ndarray:
    """World landmarks (M, 39, 3) -> H36M-17 (M, 17, 3) float32, pelvis at exactly 0.

    The same BlazePose-33 map as the 2D keypoints (`core.skeleton`: pelvis = mid-hips, thorax =
    mid-shoulders, spine = their midpoint, head = mid-eyes); the model's own origin is its hip
    centre, within millimetres of our mid-hips, and subtracting ours makes it exact.
    """
    w17, _ = to_h36m(world[:, _BODY].astype(np.float32), "blazepose33")
    return (w17 - w17[:, :1]).astype(np.float32)


@dataclass
class StreamState:
    frames: int = 0  # frames seen since the last detector run
    rois: dict[int, np.ndarray] | None = None  # track id -> next frame's ROI (5,)
    weakest: float = 1.0  # lowest pose score of the last frame
    lost: bool = False  # a track went unseen in a recent frame and is not dropped yet


class BlazePoseDetector(Detector):
    """Multi-person BlazePose: SSD detector every N frames, landmark model on all ROIs at once."""

    STREAM_STATE = (*Detector.STREAM_STATE, "_state")

    def __init__(self, cfg: DetectorConfig) -> None:
        super().__init__(cfg)
        self.person_detector = PersonDetector(model_path(cfg.detector_model, "BlazePose detector model"),
                                              cfg.threads, cfg.min_detection_score, cfg.nms_iou)
        self.landmark_model = LandmarkModel(model_path(cfg.landmark_model, "BlazePose landmark model"),
                                            cfg.threads, 7 if cfg.heatmap_refine else 1,
                                            0.5 if cfg.heatmap_refine else 2.0)
        self._state: dict[str, StreamState] = {}
        self.last_stats: dict[str, float] = {}

    def close(self) -> None:
        super().close()
        self._state.clear()

    def _stream(self, name: str) -> StreamState:
        return self._state.setdefault(name, StreamState())

    def needs_detection(self, st: StreamState) -> bool:
        return (not st.rois or st.lost or st.frames + 1 >= self.cfg.detect_every
                or st.weakest < self.cfg.redetect_score)

    def _find(self, frames: list[np.ndarray], streams: list[str], timestamps: list[float]
              ) -> list[list[tuple[Observation, object]]]:
        states = [self._stream(s) for s in streams]
        for s, st in zip(streams, states, strict=True):
            # Look for a lost person while their track lives: the landmark model gave up on them
            # (e.g. mid-jump), the detector may still see them, and in time to keep their id.
            st.lost = any(tr.misses > 0 for tr in self.tracker(s).tracks)
        to_detect = [i for i, st in enumerate(states) if self.needs_detection(st)]
        detected = dict(zip(to_detect, self._detect_rois([frames[i] for i in to_detect]), strict=True))
        rois_per_frame, sources = [], []
        for i, st in enumerate(states):
            rois, src = merge_rois(st.rois or {}, detected.get(i, np.zeros((0, 5), np.float32)),
                                   self.cfg.max_persons)
            rois_per_frame.append(rois)
            sources.append(src)
            st.frames = 0 if i in detected else st.frames + 1
        obs = self._landmarks(frames, rois_per_frame, sources)
        for st, o in zip(states, obs, strict=True):
            st.weakest = min((ob.score for ob, _ in o), default=0.0)
        self.last_stats = {"detector_frames": float(len(to_detect)),
                           "rois": float(sum(len(r) for r in rois_per_frame))}
        return obs

    def _detect_rois(self, frames: list[np.ndarray]) -> list[np.ndarray]:
        """SSD person detector on frames (and their tiles) -> per frame ROIs (M, 5) in pixels."""
        if not frames:
            return []
        found = self.person_detector.find(frames, self.cfg.max_persons, self.cfg.detector_tiles)
        return [roi_mod.roi_from_alignment(kp[:, 0], kp[:, 1], self.cfg.roi_enlarge) for kp, _ in found]

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
        for j in np.lexsort((-score, ~tracked)):
            if score[j] < self.cfg.min_pose_score:
                continue
            if kept and (ssd.iou(boxes[j], boxes[kept]) > self.cfg.duplicate_iou).any():
                continue  # two ROIs converged onto one person
            kept.append(int(j))
        return [(Observation(kp17[j], np.clip(conf17[j], 0, 1), boxes[j], float(score[j]), sources[j]),
                 _Found(next_rois[j], world17[j])) for j in kept]

    def _remember(self, stream: str, track_id: int, extra: object) -> None:
        st = self._stream(stream)
        st.rois = st.rois or {}
        st.rois[track_id] = np.asarray(extra.roi if isinstance(extra, _Found) else extra, np.float32)

    def _world(self, extra: object) -> np.ndarray | None:
        return extra.world if isinstance(extra, _Found) else None

    def _forget(self, stream: str) -> None:
        self._stream(stream).rois = {}


def to_rgb_float(bgr: np.ndarray, scale: float, offset: float) -> np.ndarray:
    """(N, h, w, 3) uint8 BGR -> float32 RGB * scale + offset (swapped in place: ~6x faster than
    a strided [..., ::-1] copy, which matters at ~0.2 ms per crop)."""
    for img in bgr:
        cv2.cvtColor(img, cv2.COLOR_BGR2RGB, dst=img)
    x = bgr.astype(np.float32)
    x *= np.float32(scale)
    if offset:
        x += np.float32(offset)
    return x


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
