"""The lift stage's steps after the pose model, per person and per track (pure numpy): shared by
the runtime's lift stage (`runtime/lift_engine.py`, around its engine call) and the evaluation of the
`real` set (`train/real_eval.py`, around the torch model), so what is measured is what is published.

    steps = LiftSteps(PostConfig())
    poses = steps(items, outputs)    # outputs: the pose model's, normalised, for these items

fusion      the lifter's root-relative pose blended with the detector's own 3D where the item
            carries one (`core.fusion`)
camera      the user's intrinsics ("given"), else the stream's steady camera (`StreamCamera`, the
            predictions for its first persons averaged, then held), else (camera_window 0) the
            person's own prediction, in pixels of its frame (`predicted_cameras`)
root        t solved once for that camera and pose (`solve_root`); the camera branch's own t
            where both pose and camera are the model's
per track   (`TrackFilters`) One-Euro smoothing of the root-relative pose and of t apart, and the
            pose rebuilt with the track's mean bone lengths (bones keep their directions); kp3d =
            pose + t, so the published pelvis is exactly camera.t.

The root-relative pose X does not depend on K, but t does: with K known, t is linear in the 2D
(`core.camera.solve_translation`, weighted least squares over the 17 joints; `solve_root`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .camera import denormalize_intrinsics, solve_translation
from .config import check_ranges
from .errors import InputError
from .fusion import DETECTOR_3D_WEIGHTS, FUSIONS, fuse
from .one_euro import OneEuroConfig, OneEuroFilter
from .skeleton import BONES, SYMMETRIC_BONES, bone_lengths, with_bone_lengths

MIN_DEPTH = 0.1  # metres: a solved root closer than this is not a person in front of the camera


def intrinsics_ok(k: tuple[float, ...]) -> bool:
    """(fx, fy, cx, cy) pixels of a plausible camera. Bounded (and never NaN) so that the root
    solve stays finite and well-conditioned: a focal length of 1e-300 px makes it singular."""
    return len(k) == 4 and all(1 <= f <= 1e6 for f in k[:2]) and all(-1e6 <= c <= 1e6 for c in k[2:])


@dataclass(frozen=True)
class PostConfig:
    """What happens to a pose after the model (the runtime's `[lift]` options but the model's own;
    `runtime.lift_engine.LiftConfig` adds those). intrinsics: (fx, fy, cx, cy) pixels of the real camera,
    or () to use the predicted camera; fusion: "detector-3d" blends the lifter's pose with the 2D
    detector's own 3D where the detector gives one (`core.fusion`), "off" publishes the lifter's
    alone; camera_window: with the predicted camera, average it over the stream's first persons
    until their confidence weight reaches this (about 1.3x as many persons), then hold it, and solve
    each t with that steady camera (0 = each person's own camera, frame by frame);
    bone_window: rebuild each pose with its track's mean bone lengths, averaged over about this many
    frames (0 = off); smooth: One-Euro on the 3D joints (metres, per track); track_timeout_s:
    forget a track's filter after this long unseen."""

    intrinsics: tuple[float, ...] = ()
    fusion: str = "detector-3d"
    smooth: bool = True
    bone_window: int = 60
    camera_window: int = 60
    # beta 2 (not 0.5): on the real set, the same 4x less jitter than no smoothing at no cost in
    # P-MPJPE; beta 0.5 lagged fast limbs and cost 1.2 mm
    one_euro: OneEuroConfig = field(default_factory=lambda: OneEuroConfig(min_cutoff=1.5, beta=2.0))
    track_timeout_s: float = 2.0

    def __post_init__(self) -> None:
        if self.intrinsics and not intrinsics_ok(self.intrinsics):
            raise InputError("lift.intrinsics must be fx,fy,cx,cy pixels with fx, fy in [1, 1e6] and "
                             f"cx, cy in [-1e6, 1e6], got {self.intrinsics}")
        if self.fusion not in FUSIONS:
            raise InputError(f"lift.fusion must be one of {', '.join(FUSIONS)}, got {self.fusion!r}")
        check_ranges("lift", self, bone_window=(0, 1_000_000), camera_window=(0, 1_000_000),
                     track_timeout_s=(0, 86400))
        check_ranges("lift.one_euro", self.one_euro, min_cutoff=(1e-3, 1e3), beta=(0, 1e6),
                     d_cutoff=(1e-3, 1e3))


@dataclass
class LiftItem:
    """One person to lift: where it comes from and its 2D detection (pixels)."""

    stream: str
    frame: int
    t: float  # seconds, the stream's clock (drives the One-Euro filters and the track timeout)
    size: tuple[int, int]  # (width, height) of the frame
    id: int
    kp2d: np.ndarray  # (17, 2) pixels
    conf: np.ndarray  # (17,)
    det3d: np.ndarray | None = None  # (17, 3) metres, camera axes: the 2D detector's own 3D, if any


@dataclass
class Pose3D:
    """One lifted person: absolute 3D (metres, camera frame) and its camera in pixels."""

    kp3d: np.ndarray  # (17, 3) float32, absolute = root-relative + t
    fx: float
    fy: float
    cx: float
    cy: float
    t: np.ndarray  # (3,) metres, pelvis in the camera frame
    source: str  # "predicted" | "given"


def solve_root(X: np.ndarray, item: LiftItem, K: np.ndarray) -> np.ndarray | None:
    """t (3,) of root-relative pose X (17, 3) under camera K = (fx, fy, cx, cy) pixels from the
    person's 2D (confidence-weighted), or None where the solve degenerates (joints collapsed: t_z
    below MIN_DEPTH or not finite)."""
    t = solve_translation(X[None], item.kp2d.astype(np.float64)[None], item.conf.astype(np.float64)[None],
                          K[None, :2], K[None, 2:])[0]
    return t if np.isfinite(t).all() and t[2] >= MIN_DEPTH else None


def predicted_cameras(items: list[LiftItem], out: dict[str, np.ndarray]) -> np.ndarray:
    """The camera branch's intrinsics for each item, in pixels of its own frame. -> (B, 4) fx, fy,
    cx, cy float64."""
    wh = np.array([i.size for i in items], dtype=np.float64)
    focal, center = denormalize_intrinsics(out["focal"].astype(np.float64), out["center"].astype(np.float64),
                                           wh[:, :1], wh[:, 1:])
    return np.concatenate([focal, center], 1)


class PerTrack:
    """State per (stream, track id), made by `factory` on a track's first frame and forgotten once
    the track is unseen for `timeout_s` of its stream's time (each stream has its own clock: in
    offline mode, the frame's time in the video)."""

    def __init__(self, factory: Callable[[], Any], timeout_s: float) -> None:
        self.factory, self.timeout_s = factory, timeout_s
        self._states: dict[tuple[str, int], tuple[Any, float]] = {}

    def get(self, stream: str, track: int, t: float) -> Any:
        state, _ = self._states.get((stream, track), (None, 0.0))
        if state is None:
            state = self.factory()
        self._states[(stream, track)] = (state, t)
        return state

    def forget_stale(self, stream: str, now: float) -> None:
        """Forget the tracks of `stream` unseen since `now - timeout_s` (now: that stream's time)."""
        stale = [k for k, (_, last) in self._states.items() if k[0] == stream and now - last > self.timeout_s]
        for key in stale:
            del self._states[key]

    def of_stream(self, stream: str) -> dict[int, tuple[Any, float]]:
        """Track id -> (state, last seen) of one stream."""
        return {k[1]: v for k, v in self._states.items() if k[0] == stream}

    def set_stream(self, stream: str, tracks: dict[int, tuple[Any, float]]) -> None:
        """Replace one stream's tracks with `of_stream`'s result."""
        for key in [k for k in self._states if k[0] == stream]:
            del self._states[key]
        self._states.update({(stream, i): v for i, v in tracks.items()})


class StreamCamera:
    """One stream's camera: the confidence-weighted mean of the intrinsics (pixels) the model
    predicts for the stream's first persons, until their weight reaches `window`; then it holds.
    A fixed camera does not change, but the camera branch's guess for one pose moves with the pose
    (one pose leaves the focal length ambiguous) and the depth moves with it. A mean that kept
    learning drifted as the people and their poses changed (the demo's fx rose 16 % over its 230
    frames, 1 to 14 % on the real set's cameras after their first half second); held, it stays put,
    and its focal length was as close on the real set (6.0 %). A camera that zooms or moves wants
    `lift.camera_window = 0` (each person's own camera)."""

    def __init__(self, window: int) -> None:
        self.window, self.weight = float(window), 0.0
        self.K = np.zeros(4)

    def __call__(self, K: np.ndarray, weight: float) -> np.ndarray:
        """This person's predicted (fx, fy, cx, cy) and weight -> the stream's (fx, fy, cx, cy)."""
        if self.weight >= self.window:
            return self.K.copy()
        weight = max(float(weight), 1e-3)
        self.weight = min(self.weight + weight, self.window)
        self.K = self.K + weight / self.weight * (K - self.K)
        return self.K.copy()


class TrackFilters:
    """What the lift stage remembers of one track: One-Euro filters on the root-relative pose and on
    the root translation (smoothed apart, so the published pelvis is exactly the published t), and
    the track's bone lengths, applied last so the published bones keep them exactly."""

    def __init__(self, cfg: PostConfig) -> None:
        self.cfg = cfg
        self.rel, self.t = OneEuroFilter(cfg.one_euro), OneEuroFilter(cfg.one_euro)
        self.bones = BoneLengths(cfg.bone_window) if cfg.bone_window > 0 else None

    def __call__(self, rel: np.ndarray, t: np.ndarray, time_s: float,
                 conf: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Root-relative pose (17, 3), root t (3,) at time_s, joint confidences (17,) -> the track's
        (17, 3), (3,) float64."""
        rel, t = rel.astype(np.float64), t.astype(np.float64)
        if self.cfg.smooth:
            rel, t = self.rel(rel, time_s), self.t(t, time_s)
        if self.bones is not None:
            rel = self.bones(rel, conf)
        return rel - rel[0], t


_PARENT = np.array([p for p, _ in BONES])
_CHILD = np.array([c for _, c in BONES])
_LEFT, _RIGHT = np.array(SYMMETRIC_BONES).T


def _symmetric(per_bone: np.ndarray) -> np.ndarray:
    """Left and right counterparts of a per-bone value (16,) replaced by their mean (in place)."""
    per_bone[_LEFT] = per_bone[_RIGHT] = (per_bone[_LEFT] + per_bone[_RIGHT]) / 2
    return per_bone


class BoneLengths:
    """A track's bone lengths (left = right): the confidence-weighted mean over its frames so far, an
    exponential average over about `window` frames' weight once the track is older. A body's bones
    do not change length, so each lifted pose is rebuilt with its track's lengths (the per-frame
    lift varies them by several %); a bone whose joints the detector is unsure of (an occluded arm,
    a landing after a flip) moves the mean little. A track starts from its own first frame: a prior
    of the average adult's proportions (H36M's) cost 3.6 mm P-MPJPE on the real set, whose people
    are not built like the average of H36M's actors; without it the step costs 0.7 mm and keeps
    the skeleton rigid."""

    def __init__(self, window: int) -> None:
        self.window = float(window)
        self.weight = np.zeros(len(BONES))
        self.mean = np.zeros(len(BONES))

    def __call__(self, rel: np.ndarray, conf: np.ndarray | None = None) -> np.ndarray:
        """Root-relative pose (17, 3), joint confidences (17,) -> the pose with the track's bone
        lengths (17, 3)."""
        lengths = _symmetric(bone_lengths(rel))  # a body is symmetric
        if conf is None:
            w = np.ones(len(BONES))
        else:
            c = np.clip(conf, 0.0, 1.0)
            w = _symmetric(np.minimum(c[_PARENT], c[_CHILD]) + 1e-3)
        self.weight = np.minimum(self.weight + w, self.window)
        self.mean = self.mean + w / self.weight * (lengths - self.mean)
        return with_bone_lengths(rel, self.mean)




class LiftSteps:
    """Everything after the model, with the state it keeps: per stream a steady camera, per track
    filters and bone lengths. `__call__` takes one batch of items in time order per stream.
    fusion_weights (17, 3): the detector's weights when cfg.fusion is on (default the shipped
    `DETECTOR_3D_WEIGHTS`; the evaluation passes weights fitted on other cameras)."""

    def __init__(self, cfg: PostConfig, fusion_weights: np.ndarray | None = None,
                 stream_intrinsics: dict[str, tuple[float, float, float, float]] | None = None) -> None:
        """stream_intrinsics: stream -> its calibrated (fx, fy, cx, cy) pixels, "given" for that
        stream (a rig of calibrated cameras: each stream its own); cfg.intrinsics for the others."""
        self.cfg = cfg
        self.stream_intrinsics = dict(stream_intrinsics or {})
        weights = DETECTOR_3D_WEIGHTS if fusion_weights is None else fusion_weights
        self.fusion_weights = weights if cfg.fusion == "detector-3d" else None
        self.tracks = PerTrack(lambda: TrackFilters(cfg), cfg.track_timeout_s)
        self.cameras: dict[str, StreamCamera] = {}

    def __call__(self, items: list[LiftItem], out: dict[str, np.ndarray]) -> list[Pose3D]:
        """Items (B) and the model's outputs for them (normalised, batch B) -> one Pose3D per item.

        One pass per person, root-relative pose and root apart, float64 until the Pose3D: the
        model's pose (fused with the detector's 3D), the camera (given, the stream's, or its own),
        t (solved once, for that camera and pose; the camera branch's own t where both are the
        model's), then the track's filters and bones."""
        own = predicted_cameras(items, out)
        poses = []
        for b, item in enumerate(items):
            rel = out["kp3d"][b].astype(np.float64)
            rel = rel - rel[0]  # root-relative by contract; make it exact
            fused = self.fusion_weights is not None and item.det3d is not None
            if fused:
                rel = fuse(rel, np.asarray(item.det3d, dtype=np.float64), self.fusion_weights)
            K, source = self._camera(item, own[b])
            t = out["t"][b].astype(np.float64)
            if fused or source != "own":  # the camera branch's t fits its own pose and camera only
                solved = solve_root(rel, item, K)
                t = t if solved is None else solved  # a degenerate solve keeps the model's t
            rel, t = self.tracks.get(item.stream, item.id, item.t)(rel, t, item.t, item.conf)
            poses.append(Pose3D((rel + t).astype(np.float32), *(float(k) for k in K), t.astype(np.float32),
                                "given" if source == "given" else "predicted"))
        for stream in dict.fromkeys(i.stream for i in items):
            self.tracks.forget_stale(stream, max(i.t for i in items if i.stream == stream))
        return poses

    def _camera(self, item: LiftItem, own: np.ndarray) -> tuple[np.ndarray, str]:
        """The camera a person is placed with: the user's ("given"), the stream's steady one
        ("stream"), or (with camera_window 0) its own prediction ("own"). -> ((4,) fx, fy, cx, cy
        pixels, which)."""
        if item.stream in self.stream_intrinsics:
            return np.asarray(self.stream_intrinsics[item.stream], dtype=np.float64), "given"
        if self.cfg.intrinsics:
            return np.asarray(self.cfg.intrinsics, dtype=np.float64), "given"
        if self.cfg.camera_window <= 0:
            return own, "own"
        cam = self.cameras.setdefault(item.stream, StreamCamera(self.cfg.camera_window))
        return cam(own, float(np.mean(item.conf))), "stream"

    def stream_state(self, stream: str) -> dict[str, Any]:
        """What is remembered of one stream (its tracks' filters and bones, its camera), as plain
        data: an offline run's restarted lift stage goes on from it exactly."""
        return {"tracks": self.tracks.of_stream(stream), "camera": self.cameras.get(stream)}

    def restore_stream(self, stream: str, state: dict[str, Any]) -> None:
        """Go on from a `stream_state` of `stream`."""
        self.tracks.set_stream(stream, state["tracks"])
        if state["camera"] is None:
            self.cameras.pop(stream, None)
        else:
            self.cameras[stream] = state["camera"]
