"""The detector interface: configs, `Person2D` and the `Detector` base every backend implements.

Backends live beside this module; `detect.registry.create_detector` picks one by name.

    cfg = DetectorConfig(max_persons=4, detect_every=10)
    with create_detector(cfg) as det:
        persons = det.detect([frame], [t])[0]        # list[Person2D] for that frame

Frames are HxWx3 uint8 BGR (as OpenCV decodes them); grayscale (HxW, HxWx1) and BGRA (HxWx4)
are converted; an empty, tiny (< `min_frame_side` px) or blank frame gives an empty result.
Each stream (the `streams` argument) keeps its own tracking state; track ids are unique per
stream and never reused within a run. Keypoints are H36M-17 in pixels, confidences in [0, 1].
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import cv2
import numpy as np

from camerapose.core.config import check_ranges
from camerapose.core.errors import InputError
from camerapose.engines.select import IMAGE_RUNTIMES
from camerapose.engines.triton_runner import TritonTarget, parse_url
from camerapose.runtime.detect import identity
from camerapose.runtime.detect.tracker import Observation, Tracker, TrackerConfig

log = logging.getLogger(__name__)

BACKENDS = ("blazepose", "onnx")


def _asset(name: str) -> str:
    """Default model path: the asset cache (resolved lazily so a missing cache fails on use)."""
    from camerapose.assets import cache_dir

    return str(cache_dir() / name)


@dataclass(frozen=True)
class OnnxModelConfig:
    """Your own keypoint model for the "onnx" backend (see `camerapose.runtime.detect.onnx_keypoints`).

    layout: "simcc" (RTMPose-style top-down: outputs (B, K, W*r) and (B, K, H*r)), "heatmap"
      (top-down: (B, K, h, w)), or "yolo_pose" (one-stage on the letterboxed frame: (B, 5+3K, N)
      or (B, N, 5+3K) rows cx, cy, w, h, score, then x, y, score per keypoint).
    input_size: (width, height) of the model input; keypoint_format: the model's joint order
      (a key of `core.skeleton.JOINT_MAPS`, e.g. "coco17"); mean/std: per-channel normalisation
      of 0..255 pixels in `channel_order`; simcc_split_ratio: SimCC bins per input pixel;
    person_boxes: where top-down crops come from: "blazepose" (the SSD person detector, then each
      person's last keypoints) or "full_frame" (the frame is one person, e.g. pre-cropped video);
    box_padding: top-down crop = person box enlarged by this; min_score: one-stage box score;
    nms_iou: one-stage NMS overlap; min_keypoint_score: a person needs this mean confidence.
    """

    model: str = ""
    layout: str = "simcc"
    input_size: tuple[int, int] = (192, 256)
    keypoint_format: str = "coco17"
    mean: tuple[float, float, float] = (123.675, 116.28, 103.53)
    std: tuple[float, float, float] = (58.395, 57.12, 57.375)
    channel_order: str = "rgb"
    simcc_split_ratio: float = 2.0
    person_boxes: str = "blazepose"
    box_padding: float = 1.25
    min_score: float = 0.25
    nms_iou: float = 0.45
    min_keypoint_score: float = 0.2

    def __post_init__(self) -> None:
        if self.layout not in ("simcc", "heatmap", "yolo_pose"):
            raise InputError(f"onnx model layout must be simcc|heatmap|yolo_pose, got {self.layout!r}")
        if self.person_boxes not in ("blazepose", "full_frame"):
            raise InputError(f"onnx person_boxes must be blazepose|full_frame, got {self.person_boxes!r}")
        if self.channel_order not in ("rgb", "bgr"):
            raise InputError(f"onnx channel_order must be rgb|bgr, got {self.channel_order!r}")
        check_ranges("detector.onnx", self, input_size=(8, 4096), mean=(-1e4, 1e4), std=(1e-6, 1e4),
                     simcc_split_ratio=(0.01, 100), box_padding=(1, 4), min_score=(0, 1), nms_iou=(0, 1),
                     min_keypoint_score=(0, 1))


@dataclass(frozen=True)
class DetectorConfig:
    """Everything the 2D stage needs; one frozen dataclass (TOML / CLI overridable).

    backend: "blazepose" (default, the two .tflite files) or "onnx" (your own keypoint model,
      see `camerapose.runtime.detect.onnx_keypoints`).
    max_persons: most persons per frame. detect_every: run the person detector every N frames of
      a stream (and whenever a track is lost or its pose score drops below `redetect_score`);
      in between each person's ROI comes from their last landmarks.
    person_search: how the person detector (the SSD and its tiles) runs beside tracking: "async"
      (default) on its own low-priority thread while the tracked persons' frames go on, its
      result joining the tracker on a later frame -- the stream's next frame in `detect`'s
      default (offline, deterministic) mode, the first frame after it finishes with `live=True`;
      a frame someone is missing from (nobody tracked yet, or a tracked person went unseen)
      waits for its own search. "sync": every frame that runs the person detector waits for it
      (the latency tail of earlier versions).
    min_detection_score: SSD score to accept a person; nms_iou: weighted-NMS overlap;
    detector_tiles: besides the whole frame, run the SSD on square tiles of the frame's short side
      (overlapping by half a side): "auto" on frames at least 1.5x wider than high (or higher
      than wide), "on" for any non-square frame, "off" never. The SSD is made for near people; on a
      16:9 frame tiles show people 1.8x larger, for 4 detector calls instead of 1 (~10 ms more on
      2 cores, on detector frames only).
    min_pose_score: landmark model's pose flag below which a person is dropped;
    track_memory_s: a person the tracker lost keeps their id this long (seconds of the stream's
      time) for when they come back; min_track_frames: a new person is published once tracked
      this many frames (a shorter track is never published; `tracker.py`);
    lost_search: look for a lost person where their track predicts them, with the landmark model
      at 8 rotations (BlazePose backend; see `blazepose.BlazePoseDetector._lost_search`);
    duplicate_iou: two poses whose boxes overlap more than this are one person.
    backend_runtime: what runs BlazePose's two networks: "litert" (the .tflite files on LiteRT's
      CPU kernels), "onnxruntime" or "tensorrt" (their ONNX copies, made by `camerapose assets
      fetch --onnx`; on a GPU all persons' landmark crops are one batched call), or "auto"
      (TensorRT, else onnxruntime on a GPU provider, else LiteRT; `engines.select.create_image_runner`);
      "triton" (never auto): both on a Triton server (docs/scale-out.md), which serves their ONNX
      copies as `camerapose export ~/.cache/camerapose/pose_detection.onnx --triton-repo DIR
      --triton-model blazepose_detector` (and pose_landmark_full.onnx as blazepose_landmark) made them.
    triton_url: with backend_runtime "triton", the server's gRPC HOST:PORT (or http://HOST:PORT);
      triton_detector_model / triton_landmark_model: the two networks' model names there;
      triton_timeout_s: connecting and each request (past it the 2D stage stops with one line).
    confidence: per-joint confidence: "heatmap" (heatmap peak near the joint, like the heatmap
      maxima RefineNet is trained on), "visibility" (the model's visibility sigmoid), or
      "product" of both (default: sharp AND in view).
    """

    backend: str = "blazepose"
    max_persons: int = 4
    detect_every: int = 10
    person_search: str = "async"
    min_detection_score: float = 0.5
    nms_iou: float = 0.3
    detector_tiles: str = "auto"
    min_pose_score: float = 0.5
    track_memory_s: float = 2.0
    min_track_frames: int = 5
    lost_search: bool = True
    redetect_score: float = 0.7
    duplicate_iou: float = 0.5
    roi_enlarge: float = 1.25
    confidence: str = "product"
    heatmap_refine: bool = True
    detector_model: str = field(default_factory=lambda: _asset("pose_detection.tflite"))
    landmark_model: str = field(default_factory=lambda: _asset("pose_landmark_full.tflite"))
    backend_runtime: str = "auto"
    detector_onnx: str = field(default_factory=lambda: _asset("pose_detection.onnx"))
    landmark_onnx: str = field(default_factory=lambda: _asset("pose_landmark_full.onnx"))
    triton_url: str = TritonTarget.url
    triton_detector_model: str = "blazepose_detector"
    triton_landmark_model: str = "blazepose_landmark"
    triton_timeout_s: float = TritonTarget.timeout_s
    threads: int = 2
    min_frame_side: int = 32
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    onnx: OnnxModelConfig = field(default_factory=OnnxModelConfig)  # the "onnx" backend's model

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise InputError(f"detector backend must be one of {BACKENDS}, got {self.backend!r}")
        check_ranges("detector", self, max_persons=(1, 100), detect_every=(1, 100_000),
                     min_detection_score=(0, 1), nms_iou=(0, 1), min_pose_score=(0, 1),
                     redetect_score=(0, 1), duplicate_iou=(0, 1), track_memory_s=(0, 3600),
                     min_track_frames=(1, 10_000), roi_enlarge=(1, 4), threads=(1, 256),
                     min_frame_side=(1, 4096), triton_timeout_s=(0.01, 3600))
        parse_url(self.triton_url)  # a malformed URL fails when the config is read
        if self.person_search not in ("async", "sync"):
            raise InputError(f"detector: person_search must be async|sync, got {self.person_search!r}")
        if self.detector_tiles not in ("auto", "on", "off"):
            raise InputError(f"detector: detector_tiles must be auto|on|off, got {self.detector_tiles!r}")
        if self.backend_runtime not in IMAGE_RUNTIMES:
            raise InputError(f"detector: backend_runtime must be {'|'.join(IMAGE_RUNTIMES)}, "
                             f"got {self.backend_runtime!r}")
        if self.confidence not in ("heatmap", "visibility", "product"):
            raise InputError("detector: confidence must be heatmap|visibility|product, "
                             f"got {self.confidence!r}")

    def triton_target(self, model: str) -> TritonTarget:
        """The server's `model` as `triton_url` and `triton_timeout_s` reach it."""
        return TritonTarget(self.triton_url, model, self.triton_timeout_s)

    def tflite(self, path: str, what: str) -> Path:
        """A BlazePose .tflite that must exist, unless the networks run on a Triton server."""
        return Path(path) if self.backend_runtime == "triton" else model_path(path, what)


@dataclass
class Person2D:
    """One person in one frame: H36M-17 keypoints in pixels, per-joint confidence, box, pose score,
    and, from backends that estimate it (BlazePose), the detector's own 3D pose `det3d` (published
    as `kp3d_teacher`, fused into `kp3d`)."""

    id: int
    kp2d: np.ndarray  # (17, 2) float32 pixels
    conf: np.ndarray  # (17,) float32 in [0, 1]
    box: np.ndarray  # (4,) float32 x0, y0, x1, y1 pixels
    score: float
    # (17, 3) float32 metres, pelvis at 0, camera orientation (x right, y down, z away from the
    # camera); raw, not smoothed. None from backends without a 3D output (ONNX keypoints).
    det3d: np.ndarray | None = None

    def to_json(self) -> dict:
        def r(a: np.ndarray, n: int) -> list:
            return np.round(np.asarray(a, np.float64), n).tolist()

        out = {"id": int(self.id), "kp2d": r(self.kp2d, 2), "conf": r(self.conf, 4),
               "box": r(self.box, 2), "score": round(float(self.score), 4)}
        if self.det3d is not None:
            out["kp3d_teacher"] = r(self.det3d, 4)  # the stream's name for it
        return out


def as_bgr(frame: object) -> np.ndarray | None:
    """A frame as HxWx3 uint8 BGR, or None when it holds no usable image (empty / zero-size).

    Grayscale (HxW or HxWx1) is expanded, BGRA loses its alpha; anything else is an InputError.
    """
    if not isinstance(frame, np.ndarray):
        raise InputError(f"frame must be a numpy array, got {type(frame).__name__}")
    if frame.size == 0:
        return None
    if frame.dtype != np.uint8:
        raise InputError(f"frame must be uint8 (as OpenCV decodes video), got {frame.dtype}")
    if frame.ndim == 2 or (frame.ndim == 3 and frame.shape[2] == 1):
        return cv2.cvtColor(frame.reshape(frame.shape[:2]), cv2.COLOR_GRAY2BGR)
    if frame.ndim == 3 and frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
    if frame.ndim == 3 and frame.shape[2] == 3:
        return frame
    raise InputError(f"frame must be HxW, HxWx1, HxWx3 (BGR) or HxWx4 (BGRA); got shape {frame.shape}")


class Detector(ABC):
    """Base of every 2D backend: input checks, per-stream trackers; subclasses find the poses."""

    # The attributes holding what the detector remembers of each stream, each a dict keyed by the
    # stream's name (a backend adds its own: ROIs, frame counters).
    STREAM_STATE: tuple[str, ...] = ("_trackers",)

    def __init__(self, cfg: DetectorConfig) -> None:
        self.cfg = cfg
        self._trackers: dict[str, Tracker] = {}
        # The backend's `person_search.PersonSearch` when it finds people with BlazePose's SSD (not
        # imported here: that module builds on this one).
        self.search: Any = None

    def __enter__(self) -> Detector:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Free the models and forget all tracking state."""
        self._trackers.clear()
        if self.search is not None:
            self.search.close()

    def stream_state(self, stream: str) -> dict[str, object]:
        """What the detector remembers of one stream (its tracks, ROIs, the person search its next
        frame joins: a running one is waited for), as plain data: an offline run's restarted
        detect stage goes on from it exactly (`restore_stream`)."""
        state = {name: getattr(self, name).get(stream) for name in self.STREAM_STATE}
        if self.search is not None:
            state["person_search"] = self.search.state(stream)
        return state

    def restore_stream(self, stream: str, state: dict[str, object]) -> None:
        """Go on from a `stream_state` of `stream`."""
        for name in self.STREAM_STATE:
            per_stream = getattr(self, name)
            if state.get(name) is None:
                per_stream.pop(stream, None)
            else:
                per_stream[stream] = state[name]
        if self.search is not None:
            self.search.restore(stream, state.get("person_search"))

    def tracker(self, stream: str) -> Tracker:
        if stream not in self._trackers:
            self._trackers[stream] = Tracker(self.cfg.tracker, self.cfg.track_memory_s,
                                             self.cfg.min_track_frames)
        return self._trackers[stream]

    def detect(self, frames: list[np.ndarray], timestamps: list[float],
               streams: list[str] | None = None, live: bool = False) -> list[list[Person2D]]:
        """Persons of every frame, batched over frames (and streams). -> one list per frame.

        live: frames come from a camera and only the newest counts; a person search running in the
        background joins the first frame after it is done. Default (offline): it joins the
        stream's next frame, so that the same frames always give the same persons.
        """
        if len(frames) != len(timestamps) or (streams is not None and len(streams) != len(frames)):
            raise InputError("detect: frames, timestamps (and streams) must have the same length")
        names = [str(s) for s in streams] if streams is not None else ["0"] * len(frames)
        # Frames of one stream in one call are processed in order: split into rounds.
        results: list[list[Person2D]] = [[] for _ in frames]
        pending = list(range(len(frames)))
        while pending:
            seen: set[str] = set()
            this_round, later = [], []
            for i in pending:
                (later if names[i] in seen else this_round).append(i)
                seen.add(names[i])
            usable = []
            for i in this_round:
                img = as_bgr(frames[i])
                if img is None or min(img.shape[:2]) < self.cfg.min_frame_side:
                    self._missed(names[i], float(timestamps[i]))
                    continue
                usable.append((i, img))
            found = self._find([img for _, img in usable], [names[i] for i, _ in usable],
                               [float(timestamps[i]) for i, _ in usable], live) if usable else []
            for (i, img), obs in zip(usable, found, strict=True):
                results[i] = self._track(names[i], float(timestamps[i]), obs, img)
            pending = later
        return results

    def _missed(self, stream: str, t: float) -> None:
        self.tracker(stream).update([], t)
        self._forget(stream)

    def _track(self, stream: str, t: float, obs: list[tuple[Observation, object]], frame: np.ndarray
               ) -> list[Person2D]:
        """Ids + smoothing for one frame's observations (BGR frame (H, W, 3)); tells the backend each
        track's id. Tentative tracks (id < 0) are followed but not returned."""
        for o, extra in obs:  # what tells people apart when motion cannot
            o.appearance = identity.appearance(frame, o.keypoints, o.confidence)
            o.proportions = identity.proportions(o.keypoints, self._det3d(extra))
        ids = self.tracker(stream).update([o for o, _ in obs], t)
        self._forget(stream)
        persons = []
        for (o, extra), (tid, kp) in zip(obs, ids, strict=True):
            self._remember(stream, tid, extra)
            if tid > 0:
                persons.append(Person2D(tid, kp.astype(np.float32), o.confidence.astype(np.float32),
                                        o.box.astype(np.float32), float(o.score), self._det3d(extra)))
        return persons

    @abstractmethod
    def _find(self, frames: list[np.ndarray], streams: list[str], timestamps: list[float], live: bool
              ) -> list[list[tuple[Observation, object]]]:
        """Poses in frames of distinct streams: per frame, (observation, backend state) pairs.
        live: as in `detect`."""

    def _remember(self, stream: str, track_id: int, extra: object) -> None:
        """Backend hook: keep per-track state (e.g. next frame's ROI) under its id."""
        del stream, track_id, extra

    def _forget(self, stream: str) -> None:
        """Backend hook: drop a stream's per-track state (before a frame's new state is kept)."""
        del stream

    def _det3d(self, extra: object) -> np.ndarray | None:
        """Backend hook: the person's own 3D pose (17, 3) from their backend state, if it has one."""
        del extra
        return None


def model_path(path: str, what: str) -> Path:
    """A model path that exists, or an error pointing to `camerapose assets fetch`."""
    from camerapose.core.errors import AssetError

    p = Path(path).expanduser()
    if not p.is_file():
        raise AssetError(f"{what} {p} is missing: run `camerapose assets fetch` first")
    return p
