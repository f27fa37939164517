"""Multi-person tracking: one id per person through fast motion, occlusion and leaving the frame.

Pure and deterministic: `Tracker.update(observations, t)` gives each of this frame's poses the id of
the person it continues, in three steps:

1. **Motion.** Every track predicts its keypoints, box and body rotation at t (an alpha-beta
   filter: position = the last observation, velocity updated from each new one, constant velocity
   in between, for at most `coast_s`). The observations are assigned to the tracks seen within
   `coast_s` by a global
   assignment (Hungarian, `scipy.optimize.linear_sum_assignment`) on a similarity of predicted
   keypoints (OKS), box overlap and clothing colours; below `min_similarity` a pair is no match.
2. **Identity.** A track that loses its person is kept, predicted, for `memory_s` seconds. An
   observation no live track took is given a kept track's id when it appears within reach of its
   prediction and looks like that person (`identity.py`: colour histograms of torso and legs,
   body proportions); a new id is given only when no kept track fits.
3. **Confirmation.** A new track is tentative until it has `min_frames` observations: its poses
   are not published (their ids are < 0) and a tentative track missed once is dropped, so a
   few frames of a false pose never become a person. When it is confirmed, it first tries again
   to be a kept track (its colours are now known over several frames), else gets the next id.
   Tracks found in a stream's first frame are confirmed at once: that is where the people are.

Every matched pose is smoothed with its track's own One-Euro filter. Ids count up from 1 and are
never reused in a run. `t` is the only clock: the runtime passes the frame's time in the video in
offline mode, so tracks do not depend on how fast frames were processed. A Tracker is plain data:
the detect stage saves it per frame (runtime/stages/snapshot_codec.py, no pickle) to resume a
restarted offline run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from camerapose.core.config import check_ranges
from camerapose.core.one_euro import OneEuroConfig, OneEuroFilter
from camerapose.core.shapes import check_shape
from camerapose.core.skeleton import Joint
from camerapose.runtime.detect import identity
from camerapose.runtime.detect.roi import normalize_angle
from camerapose.runtime.detect.ssd import iou

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrackerConfig:
    """min_similarity: below it no match; oks_sigma: keypoint tolerance as a fraction of the
    person's size; iou_weight: share of the box IoU in the motion similarity (the rest is keypoint
    similarity); appearance_weight: share of the clothing colours in the similarity of a live
    track (when both sides have them); hint_bonus: added to the similarity of an observation with
    the track it says it continues (e.g. its ROI came from that track); velocity_gain: the
    alpha-beta filter's beta (how much of a new velocity measurement is taken); coast_s: a lost
    track moves on at its last velocity for this long, then stays; min_identity: identity score
    (colours, proportions) a reappearing person needs to take a kept track's id; reach: how far from
    a kept track's prediction they may reappear, in person extents, twice as far after half a second
    lost; smooth: One-Euro on or off."""

    min_similarity: float = 0.2
    oks_sigma: float = 0.1
    iou_weight: float = 0.3
    appearance_weight: float = 0.4
    hint_bonus: float = 0.5
    velocity_gain: float = 0.5
    coast_s: float = 0.5
    min_identity: float = 0.5
    reach: float = 1.5
    smooth: bool = True
    one_euro: OneEuroConfig = field(default_factory=OneEuroConfig)

    def __post_init__(self) -> None:
        check_ranges("detector.tracker", self, min_similarity=(0, 1), oks_sigma=(1e-3, 10), iou_weight=(0, 1),
                     appearance_weight=(0, 1), hint_bonus=(0, 10), velocity_gain=(0, 1), coast_s=(0, 60),
                     min_identity=(0, 1), reach=(0, 100))
        check_ranges("detector.tracker.one_euro", self.one_euro, min_cutoff=(1e-3, 1e3), beta=(0, 1e6),
                     d_cutoff=(1e-3, 1e3))


@dataclass
class Observation:
    """One person in one frame, as the pose model saw it, with what identifies them (optional)."""

    keypoints: np.ndarray  # (J, 2) pixels
    confidence: np.ndarray  # (J,)
    box: np.ndarray  # (4,) x0, y0, x1, y1
    score: float
    hint: int | None = None  # id of the track this observation probably continues, if known
    appearance: np.ndarray | None = None  # identity.appearance (64,)
    proportions: np.ndarray | None = None  # identity.proportions (8,)


@dataclass(eq=False)  # one track is one object: `in` and `remove` go by identity
class TrackState:
    """What the tracker keeps of one person it follows (a track id's state; `files.tracks.Track` is a
    finished track read back from a recording). Ids < 0 are tentative tracks' (never published)."""

    id: int
    keypoints: np.ndarray  # (J, 2) last raw observation
    velocity: np.ndarray  # (J, 2) pixels / s
    box: np.ndarray  # (4,)
    t: float  # when last seen
    filter: OneEuroFilter
    misses: int = 0
    hits: int = 1
    angle: float = 0.0  # body rotation in the image (`body_angle`), radians
    spin: float = 0.0  # its rate, radians / s
    extent: float = 0.0  # running mean of the box's longer side (`box_extent`), pixels
    appearance: np.ndarray | None = None  # running mean of `identity.appearance`
    proportions: np.ndarray | None = None  # running mean of `identity.proportions`

    @property
    def tentative(self) -> bool:
        return self.id < 0

    def elapsed(self, t: float, coast_s: float) -> float:
        """Seconds of motion to predict from the last observation to t (at most coast_s)."""
        return min(max(t - self.t, 0.0), coast_s)

    def predict(self, t: float, coast_s: float = 0.5) -> tuple[np.ndarray, np.ndarray, float]:
        """Constant-velocity guess at time t: keypoints (J, 2), box (4,), body angle (radians)."""
        dt = self.elapsed(t, coast_s)
        shift = self.velocity * dt
        return self.keypoints + shift, self.box + np.tile(shift.mean(0), 2), self.angle + self.spin * dt


def box_size(box: np.ndarray) -> float:
    """sqrt(area) of an x0, y0, x1, y1 box, at least 1 pixel."""
    return float(max(np.sqrt(max((box[2] - box[0]) * (box[3] - box[1]), 0.0)), 1.0))


def keypoint_similarity(a: np.ndarray, b: np.ndarray, conf: np.ndarray, size: float, sigma: float) -> float:
    """OKS-like similarity in [0, 1] of two poses (J, 2), weighted by conf (J,); size in pixels."""
    d2 = ((a - b) ** 2).sum(-1)
    k = np.exp(-d2 / (2.0 * (sigma * size) ** 2))
    w = np.clip(conf, 1e-3, None)
    return float((k * w).sum() / w.sum())


def box_extent(box: np.ndarray) -> float:
    """The longer side of an x0, y0, x1, y1 box, at least 1 pixel (a turning body keeps it; a body
    cut by the frame's edge keeps it too, where its area collapses)."""
    return float(max(box[2] - box[0], box[3] - box[1], 1.0))


def box_centre(box: np.ndarray) -> np.ndarray:
    """(4,) x0, y0, x1, y1 -> (2,) centre."""
    return np.array([(box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0])


def pose_box(keypoints: np.ndarray) -> np.ndarray:
    """Tight box around keypoints (J, 2). -> (4,) x0, y0, x1, y1."""
    return np.concatenate([keypoints.min(0), keypoints.max(0)]).astype(np.float32)


def body_angle(keypoints: np.ndarray) -> float:
    """The body's rotation in the image (H36M-17 keypoints (17, 2)): the angle of pelvis -> thorax
    from straight up, clockwise positive (the ROI convention of `roi.py`), radians in [-pi, pi)."""
    up = keypoints[Joint.THORAX] - keypoints[Joint.PELVIS]
    return float(np.arctan2(up[0], -up[1]))


def _cue_text(cues: dict[str, float | None]) -> str:
    """identity_cues for a log line."""
    return ", ".join(f"{k} {v:.{0 if 'px' in k else 2}f}" for k, v in cues.items() if v is not None)


def _weight(hits: int) -> float:
    """Running means of what identifies a track: the mean of its first observations, then an
    exponential average (weight 1/10): a person's clothes do not change, but light and pose do."""
    return 1.0 / min(max(hits, 1), 10)


def _running_mean(old: np.ndarray | None, new: np.ndarray | None, hits: int) -> np.ndarray | None:
    """`_weight`'s running mean of a descriptor (None: not seen this time)."""
    if new is None:
        return old
    if old is None:
        return new.copy()
    w = _weight(hits)
    return ((1 - w) * old + w * new).astype(np.float32)


class Tracker:
    """Stable ids and smoothed keypoints for the persons of ONE stream.

    memory_s: a lost track is kept this long for its person to come back; min_frames: a new track
    is published once it has this many observations (1: at once)."""

    def __init__(self, cfg: TrackerConfig = TrackerConfig(), memory_s: float = 2.0, min_frames: int = 5
                 ) -> None:
        self.cfg = cfg
        self.memory_s = memory_s
        self.min_frames = min_frames
        self.tracks: list[TrackState] = []
        self._next_id = 1
        self._next_tentative = -1
        self._started = False  # a frame with persons has been seen

    # -- what the backends ask -----------------------------------------------------------------------
    def lost(self, t: float) -> list[TrackState]:
        """Confirmed tracks kept but not seen in the last frame, most recently seen first."""
        out = [tr for tr in self.tracks if tr.misses > 0 and not tr.tentative and tr.t < t]
        return sorted(out, key=lambda tr: (-tr.t, tr.id))

    # -- similarities -----------------------------------------------------------------------------
    def similarity(self, tracks: list[TrackState], obs: list[Observation], t: float) -> np.ndarray:
        """(T, O) motion similarity of every track (predicted to t) with every observation."""
        sim = np.zeros((len(tracks), len(obs)))
        boxes = np.stack([o.box for o in obs]).astype(np.float64) if obs else np.zeros((0, 4))
        for i, tr in enumerate(tracks):
            kp, box, _ = tr.predict(t, self.cfg.coast_s)
            size = box_size(box)
            ious = iou(box.astype(np.float64), boxes) if obs else []
            for j, o in enumerate(obs):
                check_shape("keypoints", o.keypoints, kp.shape)
                oks = keypoint_similarity(kp, o.keypoints, o.confidence, size, self.cfg.oks_sigma)
                s = (1 - self.cfg.iou_weight) * oks + self.cfg.iou_weight * ious[j]
                app = identity.appearance_similarity(tr.appearance, o.appearance) \
                    if tr.appearance is not None and o.appearance is not None else None
                if app is not None:
                    s = (1 - self.cfg.appearance_weight) * s + self.cfg.appearance_weight * app
                # An ROI that came from this track says it continues it, unless the colours say it
                # is someone else (a ROI that slid onto the person behind: Pose2Sim's cam03).
                if o.hint is not None and o.hint == tr.id and (app is None or app >= self.cfg.min_identity):
                    s += self.cfg.hint_bonus
                sim[i, j] = s
        return sim

    def identity_score(self, tr: TrackState, appearance: np.ndarray | None, proportions: np.ndarray | None,
                       box: np.ndarray, t: float) -> float:
        """How surely a person (their colours, proportions, box (4,) at time t) is the kept track tr,
        in [0, 1]; 0 when out of reach of its prediction (`identity_cues`)."""
        return self.identity_cues(tr, appearance, proportions, box, t)["score"]

    def identity_cues(self, tr: TrackState, appearance: np.ndarray | None, proportions: np.ndarray | None,
                      box: np.ndarray, t: float) -> dict[str, float | None]:
        """`identity_score` and what it is made of: "near" (1 at the prediction or where they were
        last seen, 0 at the gate: `reach` person extents, and as much again per half second lost:
        the demo's man falls 600 px in the 0.8 s a live run can lose him), "colours" and "body"
        (None: not known on both sides). The score is their weighted mean: nearness 1, colours 2
        (on the test videos the same person scores 0.95 median, two people 0.2 to 0.6), body
        proportions 0.5 (BlazePose's 3D bodies are much alike: same person 0.55 median, two people
        0.3 to 0.5); 0 beyond the gate."""
        _, pbox, _ = tr.predict(t, self.cfg.coast_s)
        # The person's usual size (a tucked flip's box is half of it) and the nearer of where they
        # were and where their last velocity takes them (a flip's velocity is no guide).
        size = max(tr.extent, box_extent(pbox), box_extent(box))
        dist = min(float(np.linalg.norm(box_centre(box) - box_centre(b))) for b in (pbox, tr.box))
        gate = size * self.cfg.reach * (1.0 + 2.0 * max(t - tr.t, 0.0))
        app = identity.appearance_similarity(tr.appearance, appearance) \
            if tr.appearance is not None and appearance is not None else None
        body = identity.proportion_similarity(tr.proportions, proportions) \
            if tr.proportions is not None and proportions is not None else None
        near = 1.0 - min(dist / gate, 1.0) ** 2  # near the prediction counts fully, fading at the gate
        cues = [(w, v) for w, v in ((1.0, near), (2.0, app), (0.5, body)) if v is not None]
        score = sum(w * v for w, v in cues) / sum(w for w, _ in cues) if dist <= gate else 0.0
        return {"score": float(score), "near": near, "colours": app, "body": body, "px": dist,
                "gate px": gate}

    # -- one frame ----------------------------------------------------------------------------------
    def update(self, obs: list[Observation], t: float) -> list[tuple[int, np.ndarray]]:
        """Match, re-identify, create and age tracks for one frame at time t (seconds).

        -> per observation, in input order: (track id, < 0 while the track is tentative: not to be
        published; smoothed keypoints (J, 2) float32).
        """
        # Motion decides for tracks seen within coast_s; for longer-lost ones, who the person is.
        moving = [tr for tr in self.tracks if t - tr.t <= self.cfg.coast_s]
        assigned = self._assign(moving, obs, self.similarity(moving, obs, t), self.cfg.min_similarity)
        rest = [j for j in range(len(obs)) if j not in assigned]
        lost = [tr for tr in self.tracks if tr.misses > 0 and not tr.tentative
                and tr not in assigned.values()]
        if rest and lost:
            ident = np.array([[self.identity_score(tr, obs[j].appearance, obs[j].proportions, obs[j].box, t)
                               for j in rest] for tr in lost]).reshape(len(lost), len(rest))
            for k, tr in self._assign(lost, [obs[j] for j in rest], ident, self.cfg.min_identity).items():
                o = obs[rest[k]]
                assigned[rest[k]] = tr
                log.info("tracker: id %d is back after %.2f s (%s)", tr.id, t - tr.t,
                         _cue_text(self.identity_cues(tr, o.appearance, o.proportions, o.box, t)))
        first = not self._started
        self._started = self._started or bool(obs)
        out: list[tuple[int, np.ndarray]] = []
        for j, o in enumerate(obs):
            tr = assigned.get(j)
            if tr is None:
                tr = self._new_track(o, t, confirmed=first or self.min_frames <= 1)
            else:
                self._observe(tr, o, t)
            if tr.tentative and tr.hits >= self.min_frames:
                self._confirm(tr, t, list(assigned.values()))
            if self.cfg.smooth:
                kp = tr.filter(o.keypoints, t, scale=box_size(o.box)).astype(np.float32)
            else:
                kp = o.keypoints.astype(np.float32)
            out.append((tr.id, kp))
        for tr in self.tracks:
            if tr.t != t:
                tr.misses += 1
        self.tracks = [tr for tr in self.tracks if tr.misses == 0
                       or (not tr.tentative and t - tr.t <= self.memory_s)]
        return out

    @staticmethod
    def _assign(tracks: list[TrackState], obs: list[Observation], sim: np.ndarray, floor: float
                ) -> dict[int, TrackState]:
        """Global assignment maximising the summed similarity; pairs below floor are dropped.
        -> observation index -> track."""
        if not tracks or not obs:
            return {}
        rows, cols = linear_sum_assignment(-sim)
        return {int(c): tracks[int(r)] for r, c in zip(rows, cols, strict=True) if sim[r, c] >= floor}

    def _new_track(self, o: Observation, t: float, confirmed: bool) -> TrackState:
        still = np.zeros_like(o.keypoints, dtype=np.float64)
        if confirmed:
            tid, self._next_id = self._next_id, self._next_id + 1
        else:
            tid, self._next_tentative = self._next_tentative, self._next_tentative - 1
        tr = TrackState(tid, o.keypoints.copy(), still, o.box.copy(), t, OneEuroFilter(self.cfg.one_euro),
                        angle=body_angle(o.keypoints), extent=box_extent(o.box), appearance=o.appearance,
                        proportions=o.proportions)
        self.tracks.append(tr)
        return tr

    def _observe(self, tr: TrackState, o: Observation, t: float) -> None:
        """An observation of tr at t: alpha-beta update (alpha 1: the position is the observation)."""
        dt = t - tr.t
        angle = body_angle(o.keypoints)
        if 0 < dt <= self.cfg.coast_s:  # after a longer gap the old velocity says nothing
            g = self.cfg.velocity_gain
            tr.velocity = (1 - g) * tr.velocity + g * (o.keypoints - tr.keypoints) / dt
            tr.spin = (1 - g) * tr.spin + g * float(normalize_angle(angle - tr.angle)) / dt
        elif dt > 0:
            tr.velocity = np.zeros_like(tr.velocity)
            tr.spin = 0.0
        tr.keypoints, tr.box, tr.t, tr.angle = o.keypoints.copy(), o.box.copy(), t, angle
        tr.misses, tr.hits = 0, tr.hits + 1
        tr.extent += _weight(tr.hits) * (box_extent(o.box) - tr.extent)
        tr.appearance = identity.merge_appearance(tr.appearance, o.appearance, _weight(tr.hits))
        tr.proportions = _running_mean(tr.proportions, o.proportions, tr.hits)

    def _confirm(self, tr: TrackState, t: float, taken: list[TrackState]) -> None:
        """A tentative track is a person: a kept track's id if it is them, else a new id (taken: the
        tracks this frame's other observations continue)."""
        # Every confirmed track not seen at t: lost before, or just now (the demo live: a second
        # ROI on the man, tentative, confirmed on the frame where his first one died).
        kept = [k for k in self.tracks if not k.tentative and k.t < t and k not in taken]
        cues = [self.identity_cues(k, tr.appearance, tr.proportions, tr.box, t) for k in kept]
        best = int(np.argmax([c["score"] for c in cues])) if cues else -1
        if best >= 0 and cues[best]["score"] >= self.cfg.min_identity:
            old = kept[best]
            self.tracks.remove(old)
            tr.id = old.id
            log.info("tracker: id %d is back after %.2f s (%s)", tr.id, t - old.t, _cue_text(cues[best]))
        else:
            tr.id, self._next_id = self._next_id, self._next_id + 1
            if best >= 0:
                log.info("tracker: new id %d (lost id %d %.2f s ago does not fit: %s < %.2f)", tr.id,
                         kept[best].id, t - kept[best].t, _cue_text(cues[best]), self.cfg.min_identity)
