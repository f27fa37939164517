"""Several calibrated cameras' persons of one moment -> one skeleton per person in the room's frame.

Pure and deterministic. Per synchronised frame (`Fuser.fuse`):

1. **Who is who.** Each view's persons (their 2D joints, undistorted) are grouped across views by
   epipolar distance (`triangulate.associate`); each group then takes the world id its members'
   (view, track id) pairs voted for in earlier frames, so a world id follows the per-camera
   tracks through crossings where a frame's grouping alone could flip.
2. **Triangulation.** Left/right swaps in one view are repaired (`repair_swaps`), then each joint
   is triangulated from the largest set of views that agree within `max_error` (a share of the
   person's 2D height in each view; confidence-weighted DLT, `triangulate_robust`).
3. **Complete skeletons.** A joint no two views agree on is taken from the person's own monocular
   3D (the lift stage's, camera frame) carried into the world by the camera's extrinsics and
   fitted (rotation, translation, scale) onto the triangulated joints. A person seen by one
   camera only is that camera's monocular pose placed in the world, flagged `single_view`.
4. **Steady.** Per world id, the root-relative pose is rebuilt with the person's mean bone
   lengths (`lift_steps.BoneLengths`) and smoothed (One-Euro on the stream's time).

    fuser = Fuser(cameras, FuseConfig())
    people = fuser.fuse(views, t)        # views[v]: list of ViewPerson of camera v; -> list of WorldPerson
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from .calibration import projection_matrix, undistort_points
from .camera import Camera
from .config import check_ranges
from .lift_steps import BoneLengths
from .one_euro import OneEuroConfig, OneEuroFilter
from .skeleton import NUM_JOINTS
from .triangulate import MAX_EPIPOLAR_PX, associate, project_points, repair_swaps, triangulate_robust

SAME_PERSON_2D = 0.2  # a found person projecting within this share of a 2D pose's height is them


@dataclass(frozen=True)
class FuseConfig:
    """The fuse stage ([fuse] in runtime.toml). calibration: the cameras' file (Pose2Sim .toml,
    Qualisys .qca.txt, OpenCV .yml/.json; "" = no fusion); cameras: the calibration's camera of
    each source, in source order (() = matched by name: docs/multicamera.md); window_ms: live, the
    frames of all cameras whose capture times fall within this of each other make one world frame;
    wait_ms: live, how long such a moment waits at the fuse stage for a camera's frame still on its
    way (then it goes out without it);
    min_conf: a joint below it is not used; max_error: reprojection error a view may have and
    agree, as a share of the person's 2D height in that view (0.02 of a 900 px tall person is
    18 px); max_epipolar_px: mean epipolar distance below which two views' persons may be one;
    single_view: publish persons seen by one camera (their monocular pose placed in the world);
    bone_window, smooth, one_euro: as the lift stage's; track_timeout_s: a world id unseen this
    long is forgotten (its filters; the id is never reused)."""

    calibration: str = ""
    cameras: tuple[str, ...] = ()
    window_ms: float = 25.0
    wait_ms: float = 100.0
    min_conf: float = 0.3
    max_error: float = 0.02
    max_epipolar_px: float = MAX_EPIPOLAR_PX
    single_view: bool = True
    bone_window: int = 60
    smooth: bool = True
    one_euro: OneEuroConfig = field(default_factory=lambda: OneEuroConfig(min_cutoff=1.5, beta=2.0))
    track_timeout_s: float = 2.0

    def __post_init__(self) -> None:
        check_ranges("fuse", self, window_ms=(0.1, 10_000), wait_ms=(0, 60_000), min_conf=(0, 1),
                     max_error=(1e-4, 1), max_epipolar_px=(0.1, 10_000), bone_window=(0, 100_000),
                     track_timeout_s=(0, 86_400))


@dataclass
class ViewPerson:
    """One person as one camera's stages saw them: the stream's track id, 2D joints (17, 2) in the
    camera's (distorted) pixels, confidences (17,), the lifted 3D (17, 3) metres in that camera's
    frame, and the pose score."""

    track: int
    kp2d: np.ndarray
    conf: np.ndarray
    kp3d: np.ndarray
    score: float = 1.0


@dataclass
class WorldPerson:
    """One person in the world frame: id, joints (17, 3) metres, per joint the views its position
    came from (0: filled from the monocular pose) and their mean reprojection error in pixels (0
    where not triangulated), whether one camera only saw them, which track of which view they are."""

    id: int
    kp3d: np.ndarray
    views: np.ndarray
    reproj_px: np.ndarray
    single_view: bool
    tracks: dict[int, int]
    score: float


@dataclass
class _WorldTrack:
    filter: OneEuroFilter
    bones: BoneLengths
    t: float


class Fuser:
    """World ids, triangulation and steady skeletons for one rig of cameras (all with extrinsics)."""

    def __init__(self, cameras: list[Camera], cfg: FuseConfig = FuseConfig()) -> None:
        if len(cameras) < 1 or any(c.R is None for c in cameras):
            raise ValueError("Fuser: every camera needs extrinsics (R, t)")
        self.cameras = cameras
        self.cfg = cfg
        self.P = np.stack([projection_matrix(c) for c in cameras])
        self.links: dict[tuple[int, int], int] = {}  # (view, track id) -> world id
        self.tracks: dict[int, _WorldTrack] = {}
        self._next_id = 1

    def fuse(self, views: list[list[ViewPerson]], t: float) -> list[WorldPerson]:
        """One synchronised frame: views[v] lists camera v's persons (an empty list for a camera
        without a frame); t: the frame's time (s). -> the world persons, sorted by id."""
        if len(views) != len(self.cameras):
            raise ValueError(f"fuse: {len(views)} views for {len(self.cameras)} cameras")
        uv = [[undistort_points(self.cameras[v], p.kp2d) for p in ps] for v, ps in enumerate(views)]
        groups = associate(self.P, [[(u, p.conf) for u, p in zip(uvs, ps, strict=True)]
                                    for uvs, ps in zip(uv, views, strict=True)],
                           max_epipolar_px=self.cfg.max_epipolar_px, min_conf=self.cfg.min_conf,
                           min_views=1 if self.cfg.single_view else 2)
        groups = self._merge_by_links(groups, views)
        out: list[WorldPerson] = []
        used: set[int] = set()
        for group in groups:  # the largest first: a person seen by one camera comes after the others
            tracks = {v: views[v][i].track for v, i in group.items()}
            if len(group) == 1 and self._seen_already(tracks, uv, group, out, used):
                continue
            wid = self._world_id(tracks, used)
            used.add(wid)
            members = {v: (uv[v][i], views[v][i]) for v, i in group.items()}
            person = self._triangulate(members) if len(members) >= 2 else None
            if person is None:
                if not self.cfg.single_view:
                    continue
                person = self._single_view(members)
            kp3d, views_used, reproj, single = person
            out.append(WorldPerson(wid, self._steady(wid, kp3d, views_used, t), views_used, reproj, single,
                                   {v: views[v][i].track for v, i in group.items()},
                                   float(np.mean([views[v][i].score for v, i in group.items()]))))
        self._forget(t)
        return sorted(out, key=lambda p: p.id)

    # -- steps -------------------------------------------------------------------------------------
    def _world_id(self, members: dict[int, int], used: set[int]) -> int:
        """The world id most of the group's (view, track) pairs had, else a new one; links them."""
        votes = Counter(self.links[(v, tid)] for v, tid in members.items() if (v, tid) in self.links)
        free = [(-n, wid) for wid, n in votes.items() if wid not in used]
        if free:
            wid = min(free)[1]
        else:
            wid, self._next_id = self._next_id, self._next_id + 1
        for v, tid in members.items():
            self.links[(v, tid)] = wid
        return wid

    def _merge_by_links(self, groups: list[dict[int, int]], views: list[list[ViewPerson]]
                        ) -> list[dict[int, int]]:
        """Groups whose tracks all belong to one world id, in different views, are one person that
        this frame's epipolar grouping split (Pose2Sim's kicking man: two views and two views)."""
        out: list[dict[int, int]] = []
        owner: dict[int, int] = {}  # world id -> index in out
        for g in groups:
            ids = {self.links.get((v, views[v][i].track)) for v, i in g.items()}
            wid = ids.pop() if len(ids) == 1 else None
            k = owner.get(wid) if wid is not None else None
            if k is not None and not set(out[k]) & set(g):
                out[k] = {**out[k], **g}
                continue
            if wid is not None:
                owner.setdefault(wid, len(out))
            out.append(dict(g))
        return sorted(out, key=lambda g: (-len(g), sorted(g.items())))

    def _seen_already(self, tracks: dict[int, int], uv: list[list[np.ndarray]], group: dict[int, int],
                      found: list[WorldPerson], used: set[int]) -> bool:
        """Is a person one view alone has someone this frame's other views found already? Yes when
        their track belongs to a world id found this frame, or when one found person projects onto
        their 2D joints (a view whose detection did not associate this frame: Pose2Sim's cam01
        during a crossing)."""
        ((v, tid),) = tracks.items()
        if self.links.get((v, tid)) in used:
            return True
        mine = uv[v][group[v]]
        height = max(float(np.ptp(mine[:, 1])), 1.0)
        for p in found:  # NaN (never near) where a joint is behind the camera
            proj = project_points(self.P[v:v + 1], p.kp3d.astype(np.float64))[0]
            if float(np.median(np.linalg.norm(proj - mine, axis=-1))) < SAME_PERSON_2D * height:
                return True
        return False

    def _triangulate(self, members: dict[int, tuple[np.ndarray, ViewPerson]]
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool] | None:
        """A group seen by 2+ views -> (kp3d (17, 3) world, views used (17,), reprojection px
        (17,), False), or None when fewer than 4 joints triangulate (then it counts as one view's)."""
        V = len(self.cameras)
        uv = np.full((V, NUM_JOINTS, 2), np.nan)
        conf = np.zeros((V, NUM_JOINTS))
        thr = np.full((V, NUM_JOINTS), np.inf)
        for v, (u, p) in members.items():
            uv[v], conf[v] = u, p.conf
            height = float(np.ptp(u[:, 1])) if np.isfinite(u).all() else 0.0
            thr[v] = max(self.cfg.max_error * height, 4.0)
        uv, conf, _ = repair_swaps(self.P, uv, conf, min_conf=self.cfg.min_conf, max_error_px=thr)
        res = triangulate_robust(self.P, uv, conf, min_conf=self.cfg.min_conf, max_error_px=thr)
        ok = np.isfinite(res.X).all(-1)
        if ok.sum() < 4:
            return None
        views_used = res.used.sum(0).astype(np.float32)
        reproj = np.where(ok, res.error, 0.0).astype(np.float32)
        X = res.X.copy()
        if not ok.all():  # fill from the best view's monocular pose, fitted onto the triangulated joints
            v = _best_view(members)
            mono = self._to_world(v, members[v][1].kp3d)
            X[~ok] = fit_similarity(mono[ok], X[ok], mono)[~ok]
        return X, np.where(ok, views_used, 0.0).astype(np.float32), reproj, False

    def _single_view(self, members: dict[int, tuple[np.ndarray, ViewPerson]]
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
        """The most confident member's monocular pose, placed in the world by its camera."""
        v = _best_view(members)
        kp3d = self._to_world(v, members[v][1].kp3d)
        return kp3d, np.ones(NUM_JOINTS, np.float32), np.zeros(NUM_JOINTS, np.float32), True

    def _to_world(self, v: int, kp3d_cam: np.ndarray) -> np.ndarray:
        """Camera v's frame -> world: X_w = R^T (X_c - t). (17, 3) -> (17, 3)."""
        cam = self.cameras[v]
        return (np.asarray(kp3d_cam, np.float64) - cam.t) @ cam.R

    def _steady(self, wid: int, kp3d: np.ndarray, views: np.ndarray, t: float) -> np.ndarray:
        """The world id's bone lengths and smoothing applied. (17, 3) -> (17, 3) float32."""
        tr = self.tracks.get(wid)
        if tr is None:
            tr = _WorldTrack(OneEuroFilter(self.cfg.one_euro), BoneLengths(self.cfg.bone_window), t)
            self.tracks[wid] = tr
        tr.t = t
        pose = tr.filter(kp3d, t) if self.cfg.smooth else np.asarray(kp3d, np.float64)
        if self.cfg.bone_window > 0:  # after smoothing, which moves each joint on its own
            root = pose[0].copy()
            pose = tr.bones(pose - root, np.clip(views / 2.0, 0.05, 1.0)) + root
        return np.asarray(pose, np.float32)

    def _forget(self, now: float) -> None:
        stale = [w for w, tr in self.tracks.items() if now - tr.t > self.cfg.track_timeout_s]
        for w in stale:
            del self.tracks[w]
        self.links = {k: w for k, w in self.links.items() if w in self.tracks}


def _best_view(members: dict[int, tuple[np.ndarray, ViewPerson]]) -> int:
    """The view whose person is the most confident (mean joint confidence)."""
    return max(members, key=lambda k: float(members[k][1].conf.mean()))


def fit_similarity(src: np.ndarray, dst: np.ndarray, apply_to: np.ndarray) -> np.ndarray:
    """The rotation, translation and scale that best map points src (N, 3) onto dst (N, 3)
    (Umeyama's least squares), applied to apply_to (M, 3). -> (M, 3)."""
    ms, md = src.mean(0), dst.mean(0)
    a, b = src - ms, dst - md
    U, S, Vt = np.linalg.svd(b.T @ a)
    d = np.sign(np.linalg.det(U @ Vt))
    D = np.diag([1.0, 1.0, d])
    R = U @ D @ Vt
    var = float((a * a).sum())
    s = float((S * np.diag(D)).sum() / var) if var > 1e-12 else 1.0
    return s * (apply_to - ms) @ R.T + md
