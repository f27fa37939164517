"""Multi-person tracking: stable ids by keypoint similarity and box overlap, plus per-track smoothing.

Pure and deterministic: `Tracker.update(observations, t)` matches this frame's poses to the live
tracks (greedy on a similarity of predicted keypoints and boxes), starts tracks for the rest, ages
the unmatched tracks (dropped after `max_misses` frames without a match) and smooths each
matched pose with its own One-Euro filter. Ids count up from 1 and are never reused in a run.
`t` is the only clock: the runtime passes the frame's time in the video in offline mode, so the
tracks do not depend on how fast frames were processed. A Tracker is plain data: the detect stage
saves it per frame (runtime/stages/snapshot_codec.py, no pickle) to resume a restarted offline run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from camerapose.core.config import check_ranges
from camerapose.core.one_euro import OneEuroConfig, OneEuroFilter
from camerapose.core.shapes import check_shape
from camerapose.runtime.detect.ssd import iou


@dataclass(frozen=True)
class TrackerConfig:
    """max_misses: frames a track survives unmatched; min_similarity: below it no match;
    oks_sigma: keypoint tolerance as a fraction of the person's size; iou_weight: share of the
    box IoU in the similarity (the rest is keypoint similarity); hint_bonus: added to the
    similarity of an observation with the track it says it continues (e.g. its ROI came from
    that track's last pose); smooth: One-Euro on or off."""

    max_misses: int = 5
    min_similarity: float = 0.2
    oks_sigma: float = 0.1
    iou_weight: float = 0.3
    hint_bonus: float = 0.5
    smooth: bool = True
    one_euro: OneEuroConfig = field(default_factory=OneEuroConfig)

    def __post_init__(self) -> None:
        check_ranges("detector.tracker", self, max_misses=(0, 10_000), min_similarity=(0, 1),
                     oks_sigma=(1e-3, 10), iou_weight=(0, 1), hint_bonus=(0, 10))
        check_ranges("detector.tracker.one_euro", self.one_euro, min_cutoff=(1e-3, 1e3), beta=(0, 1e6),
                     d_cutoff=(1e-3, 1e3))


@dataclass
class Observation:
    """One person in one frame, as the pose model saw it."""

    keypoints: np.ndarray  # (J, 2) pixels
    confidence: np.ndarray  # (J,)
    box: np.ndarray  # (4,) x0, y0, x1, y1
    score: float
    hint: int | None = None  # id of the track this observation probably continues, if known


@dataclass
class TrackState:
    """What the tracker keeps of one person it follows (a track id's state; `files.tracks.Track` is a
    finished track read back from a recording)."""

    id: int
    keypoints: np.ndarray  # (J, 2) last raw observation
    velocity: np.ndarray  # (J, 2) pixels / s
    box: np.ndarray  # (4,)
    t: float
    filter: OneEuroFilter
    misses: int = 0
    hits: int = 1

    def predict(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """Constant-velocity guess of keypoints (J, 2) and box (4,) at time t."""
        shift = self.velocity * max(t - self.t, 0.0)
        mean_shift = np.tile(shift.mean(0), 2)
        return self.keypoints + shift, self.box + mean_shift


def box_size(box: np.ndarray) -> float:
    """sqrt(area) of an x0, y0, x1, y1 box, at least 1 pixel."""
    return float(max(np.sqrt(max((box[2] - box[0]) * (box[3] - box[1]), 0.0)), 1.0))


def keypoint_similarity(a: np.ndarray, b: np.ndarray, conf: np.ndarray, size: float, sigma: float) -> float:
    """OKS-like similarity in [0, 1] of two poses (J, 2), weighted by conf (J,); size in pixels."""
    d2 = ((a - b) ** 2).sum(-1)
    k = np.exp(-d2 / (2.0 * (sigma * size) ** 2))
    w = np.clip(conf, 1e-3, None)
    return float((k * w).sum() / w.sum())


def pose_box(keypoints: np.ndarray) -> np.ndarray:
    """Tight box around keypoints (J, 2). -> (4,) x0, y0, x1, y1."""
    return np.concatenate([keypoints.min(0), keypoints.max(0)]).astype(np.float32)


class Tracker:
    """Stable ids and smoothed keypoints for the persons of ONE stream."""

    def __init__(self, cfg: TrackerConfig = TrackerConfig()) -> None:
        self.cfg = cfg
        self.tracks: list[TrackState] = []
        self._next_id = 1

    def similarity(self, tracks: list[TrackState], obs: list[Observation], t: float) -> np.ndarray:
        """(T, O) similarity of every live track (predicted to t) with every observation."""
        sim = np.zeros((len(tracks), len(obs)))
        for i, tr in enumerate(tracks):
            kp, box = tr.predict(t)
            size = box_size(box)
            boxes = np.stack([o.box for o in obs]) if obs else np.zeros((0, 4))
            ious = iou(box.astype(np.float64), boxes.astype(np.float64)) if obs else []
            for j, o in enumerate(obs):
                check_shape("keypoints", o.keypoints, kp.shape)
                oks = keypoint_similarity(kp, o.keypoints, o.confidence, size, self.cfg.oks_sigma)
                sim[i, j] = (1 - self.cfg.iou_weight) * oks + self.cfg.iou_weight * ious[j]
                if o.hint is not None and o.hint == tr.id:
                    sim[i, j] += self.cfg.hint_bonus
        return sim

    def update(self, obs: list[Observation], t: float) -> list[tuple[int, np.ndarray]]:
        """Match, create and age tracks for one frame at time t (seconds).

        -> per observation, in input order: (track id, smoothed keypoints (J, 2) float32).
        """
        sim = self.similarity(self.tracks, obs, t)
        assigned: dict[int, TrackState] = {}
        used: set[int] = set()
        # Greedy: best pair first; ties broken by order, so results are deterministic.
        for flat in np.argsort(-sim, axis=None, kind="stable"):
            ti, oj = divmod(int(flat), max(len(obs), 1))
            if sim[ti, oj] < self.cfg.min_similarity:
                break
            if ti in used or oj in assigned:
                continue
            used.add(ti)
            assigned[oj] = self.tracks[ti]
        out: list[tuple[int, np.ndarray]] = []
        for j, o in enumerate(obs):
            tr = assigned.get(j)
            if tr is None:
                still = np.zeros_like(o.keypoints, dtype=np.float64)
                tr = TrackState(self._next_id, o.keypoints.copy(), still, o.box.copy(), t,
                                OneEuroFilter(self.cfg.one_euro))
                self._next_id += 1
                self.tracks.append(tr)
            else:
                dt = t - tr.t
                if dt > 0:
                    tr.velocity = 0.5 * tr.velocity + 0.5 * (o.keypoints - tr.keypoints) / dt
                tr.keypoints, tr.box, tr.t = o.keypoints.copy(), o.box.copy(), t
                tr.misses, tr.hits = 0, tr.hits + 1
            if self.cfg.smooth:
                kp = tr.filter(o.keypoints, t, scale=box_size(o.box)).astype(np.float32)
            else:
                kp = o.keypoints.astype(np.float32)
            out.append((tr.id, kp))
        matched = {id(tr) for tr in assigned.values()}
        for tr in self.tracks:
            if id(tr) not in matched and tr.t != t:
                tr.misses += 1
        self.tracks = [tr for tr in self.tracks if tr.misses <= self.cfg.max_misses]
        return out
