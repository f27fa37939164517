"""Camera extrinsics from the people seen by several synchronised cameras: no checkerboard.

    cal = calibrate(cameras, tracks, names=["left", "right", "back"])   # `camerapose calibrate`
    cal.cameras[i]                       # Camera with R, t (metres, world -> camera)

Input: per camera its intrinsics (a `Camera` without extrinsics: from a calibration file, or
`guess_intrinsics`, a principal point at the image centre and a focal from a field of view) and
the 2D detector's tracks in that camera, `{track id: (frames (T,), uv (T, 17, 2) pixels, conf
(T, 17))}`, frame numbers shared by all cameras (frame i of every video is the same instant).
The steps, in the order `calibrate` runs them:

1. normalise: every keypoint undistorted and divided by K (`normalize`): rays on the z = 1 plane.
2. pairs (`match_views`): for each pair of cameras, which track in one is which in the other, and
   their relative pose, without any calibration. A person's confident joints over the frames two
   tracks share are point correspondences. Hypotheses are seeded by each large candidate pairing
   and by every two of them that share no track (two people at once fix the geometry far better
   than one); a seed's essential matrix (RANSAC, 5-point: cv2.findEssentialMat) pairs the other
   tracks (Hungarian assignment on the inlier counts of their Sampson distances), the essential
   matrix is fitted again on everything paired, and the hypothesis that explains the most points
   wins. Wrong pairings (person A in one view with person B in the other) do not fit one epipolar
   geometry over many frames of moving bodies, so they lose.
3. place (`place_cameras`): the pair with the most inliers, weighted by sin(parallax) (rays meeting
   at 90 degrees triangulate best; cameras facing each other worst), fixes the first two cameras
   (cv2.recoverPose: the first at the origin, the baseline of length 1); its persons are
   triangulated and the two cameras bundle-adjusted; every other camera, the one with the most
   inliers first, is placed by PnP (cv2.solvePnPRansac) on those 3D joints, its tracks paired to
   the persons as in 2 (`register_view`), and the cameras so far are adjusted again.
4. associate and triangulate: the persons of step 3 keep their tracks; every other track (a person
   tracked again after a loss, or missed by the PnP pairing) joins the person whose tracks in the
   other views it fits by median epipolar distance, the rest are grouped among themselves
   (`core.triangulate.associate_tracks`); each frame's left/right label swaps are repaired and
   each joint triangulated from the views that agree (`repair_swaps`, `triangulate_robust`).
5. bundle adjustment (`bundle_adjust`): every camera's rotation and translation (and, where asked,
   its focal length: per camera or one factor for all) and the 3D joints, minimising the pixel
   reprojection error with a robust loss (soft_l1, ROBUST_PX) by scipy.optimize.least_squares with
   the analytic sparse Jacobian; the seed pair's first camera stays fixed and its baseline keeps
   its length (the gauge). Twice: the second round triangulates and selects with the adjusted
   cameras. When a refined focal ends far (REFOCUS) from its guess, steps 2-5 run once more from it.
6. metric scale (`bone_scale`): the reconstruction is scaled so that the median of the people's
   long bones (thighs, shins, upper arms, forearms) matches an average adult's (`bone_reference`:
   e.g. the detector's own metric 3D, `detector_bone_lengths`; default `skeleton.MEAN_BONE_LENGTHS`,
   MEAN_HEIGHT_M tall), times height / MEAN_HEIGHT_M when the people's mean height is given.
7. world frame (`floor_frame`): "z-up" (default) or "y-up": the up axis is the people's vertical,
   the direction most of their trunks (pelvis -> thorax) agree on (`up_direction`); the forward
   axis is the first camera's viewing direction made horizontal (z-up: +y forward, +x to its
   right; y-up: -z forward, +x to its right); the origin is on the floor under the people: the mean
   of their ankles, lowered to ANKLE_HEIGHT_M below the ankles' 10th-percentile height.
   "first-camera": the world is the first camera's frame (OpenCV axes), metres.

Thresholds in pixels are meant for a 1920-pixel long side and scale with each camera's long side.
OpenCV is imported inside the functions that call it (as `calibration.py` does for YAML files).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .calibration import undistort_points
from .camera import Camera
from .errors import InputError
from .rotations import axis_angle, skew
from .skeleton import BONES, MEAN_BONE_LENGTHS, NUM_JOINTS, Joint, bone_lengths
from .triangulate import associate_tracks, repair_swaps, triangulate_dlt, triangulate_robust

Track = tuple[np.ndarray, np.ndarray, np.ndarray]  # frames (T,), points (T, 17, 2), conf (T, 17)
Pairing = tuple[int, int]  # (track or person in one, track in the other)
Model = tuple[np.ndarray, np.ndarray, np.ndarray]  # R, t, inlier mask

REFERENCE_LONG_SIDE = 1920.0  # the pixel thresholds below are for this long side, scaled with it
DEFAULT_FOV_DEG = 65.0  # field of view across the long side when no focal is known (phones, webcams: 60-75)
MIN_CONF = 0.5  # a joint below this confidence is not used
INLIER_PX = 8.0  # RANSAC inlier threshold (essential matrix: Sampson distance; PnP: reprojection)
ROBUST_PX = 4.0  # the bundle adjustment's soft_l1 scale: errors beyond it count less and less
MAX_ERROR_PX = 20.0  # triangulate_robust: a view agrees within this; observations beyond 3x are dropped
MAX_EPIPOLAR_PX = 30.0  # associate_tracks: two tracks may be one person below this median distance
# A pairing of two tracks (or of a person's 3D joints and a track) is the same person when at least
# this share of its correspondences fit the geometry: the same person's fit 30-90 % (a detector's
# joints are off by several pixels, more from behind), two different persons' below 10 %.
MIN_INLIER_SHARE = 0.25
MIN_POINTS = 40  # fewest correspondences (joints x frames) for a pairing to count
MAX_RANSAC_POINTS = 800  # RANSAC runs on this many correspondences (spread over the clip), then scores all
MIN_PARALLAX_DEG = 2.0  # a seed pair whose rays meet at a smaller median angle is (nearly) degenerate
MAX_BA_POSES = 400  # person-frames in the bundle adjustment (evenly spread over the clip)
MEAN_HEIGHT_M = 1.72  # the height of the body MEAN_BONE_LENGTHS describes (Human3.6M's subjects)
ANKLE_HEIGHT_M = 0.08  # the H36M "foot" joint is the ankle: this far above the floor when standing
ADJUST_ROUNDS = 2  # triangulate, select the observations, bundle-adjust: again with the adjusted cameras
REFOCUS = 0.05  # a refined focal this far (relative) from its start: place the cameras again from it
UP_CONES_DEG = (30.0, 20.0, 15.0, 10.0)  # up_direction's narrowing cones
WORLDS = ("z-up", "y-up", "first-camera")
_LIMBS = ((Joint.RHIP, Joint.RKNEE), (Joint.RKNEE, Joint.RFOOT), (Joint.LHIP, Joint.LKNEE),
          (Joint.LKNEE, Joint.LFOOT), (Joint.LSHOULDER, Joint.LELBOW), (Joint.LELBOW, Joint.LWRIST),
          (Joint.RSHOULDER, Joint.RELBOW), (Joint.RELBOW, Joint.RWRIST))
LONG_BONES: tuple[int, ...] = tuple(BONES.index((int(p), int(c))) for p, c in _LIMBS)  # indices into BONES


# ---------------------------------------------------------------------------------------------
# Intrinsics and rotations


def guess_intrinsics(width: int, height: int, fov_deg: float = DEFAULT_FOV_DEG,
                     focal: float | None = None) -> Camera:
    """A camera without a calibration: the principal point at the image centre, square pixels, no
    distortion, and the focal `focal` (pixels) or the one that spans `fov_deg` across the long
    side: f = L / 2 / tan(fov / 2)."""
    if not 1.0 <= fov_deg <= 179.0:
        raise ValueError(f"guess_intrinsics: fov_deg must be in [1, 179], got {fov_deg}")
    if focal is None:
        focal = max(width, height) / 2 / math.tan(math.radians(fov_deg) / 2)
    return Camera(focal, focal, width / 2, height / 2, int(width), int(height))


def rotation_matrix(rvec: np.ndarray) -> np.ndarray:
    """Rotation vectors (..., 3) -> (..., 3, 3) (Rodrigues; exact near zero)."""
    r = np.asarray(rvec, dtype=np.float64)
    angle = np.linalg.norm(r, axis=-1)
    small = angle < 1e-8
    axis = r / np.where(small, 1.0, angle)[..., None]
    return np.where(small[..., None, None], np.eye(3) + skew(r), axis_angle(axis, angle))


def rotation_vector_of(R: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation matrices -> rotation vectors (..., 3), as cv2.Rodrigues gives them."""
    from scipy.spatial.transform import Rotation

    R = np.asarray(R, dtype=np.float64)
    return Rotation.from_matrix(R.reshape(-1, 3, 3)).as_rotvec().reshape(*R.shape[:-2], 3)


def rotation_angle_deg(R1: np.ndarray, R2: np.ndarray) -> float:
    """The angle of the rotation between two rotation matrices, degrees."""
    c = (np.trace(np.asarray(R1).T @ np.asarray(R2)) - 1) / 2
    return float(np.degrees(np.arccos(np.clip(c, -1.0, 1.0))))


def camera_centre(R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """The camera centre in the world, -R^T t."""
    return -np.asarray(R).T @ np.asarray(t)


def normalize(cam: Camera, uv: np.ndarray) -> np.ndarray:
    """Pixels -> undistorted normalised image coordinates (x / z, y / z in the camera). (..., 2)."""
    return (undistort_points(cam, uv) - cam.center) / cam.focal


def _long_side(cam: Camera) -> float:
    if cam.width is not None and cam.height is not None:
        return float(max(cam.width, cam.height))
    return 2.0 * max(cam.cx, cam.cy)


def _px_scale(cam: Camera) -> float:
    return _long_side(cam) / REFERENCE_LONG_SIDE


# ---------------------------------------------------------------------------------------------
# Two views: the essential matrix


def sampson_distance(E: np.ndarray, x1: np.ndarray, x2: np.ndarray) -> np.ndarray:
    """First-order geometric distance of correspondences to the epipolar geometry x2^T E x1 = 0.
    E (3, 3), x1, x2 (N, 2) normalised coordinates -> (N,), in the same units."""
    h1 = np.concatenate([x1, np.ones_like(x1[:, :1])], 1)
    h2 = np.concatenate([x2, np.ones_like(x2[:, :1])], 1)
    Ex1 = h1 @ E.T
    Etx2 = h2 @ E
    num = (h2 * Ex1).sum(1)
    den = Ex1[:, 0] ** 2 + Ex1[:, 1] ** 2 + Etx2[:, 0] ** 2 + Etx2[:, 1] ** 2
    return np.abs(num) / np.sqrt(np.maximum(den, 1e-300))


def essential_pose(x1: np.ndarray, x2: np.ndarray, threshold: float,
                   seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The relative pose of camera 2 from camera 1 seeing x1 <-> x2 (N, 2) in normalised coordinates:
    X_2 = R X_1 + t, |t| = 1. RANSAC essential matrix (threshold: normalised units), then the
    decomposition whose points lie in front of both cameras. -> (R, t, inlier mask (N,)) or None
    (fewer than 8 points, or no model)."""
    import cv2

    if len(x1) < 8:
        return None
    cv2.setRNGSeed(seed)  # RANSAC's samples: the same input gives the same calibration
    p1, p2 = np.ascontiguousarray(x1, np.float64), np.ascontiguousarray(x2, np.float64)
    sub = np.unique(np.linspace(0, len(p1) - 1, min(len(p1), MAX_RANSAC_POINTS)).round().astype(int))
    E, mask = cv2.findEssentialMat(p1[sub], p2[sub], np.eye(3), method=cv2.RANSAC, prob=0.999,
                                   threshold=float(threshold), maxIters=1000)
    if E is None or E.shape[0] < 3 or mask is None:
        return None
    E = E[:3]
    mask = (sampson_distance(E, p1, p2) < threshold).astype(np.uint8)[:, None]  # all points, not the sample
    n, R, t, mask = cv2.recoverPose(E, p1, p2, np.eye(3), mask=mask)
    if n < 5:
        return None
    return R, t.reshape(3) / np.linalg.norm(t), mask.reshape(-1) > 0


def _pair_points(a: Track, b: Track, min_conf: float) -> tuple[np.ndarray, np.ndarray]:
    """The correspondences of two tracks in two views: their joints confident in both on the frames
    both have. -> (N, 2), (N, 2)."""
    _, ia, ib = np.intersect1d(a[0], b[0], assume_unique=True, return_indices=True)
    xa, xb = a[1][ia], b[1][ib]
    ok = (a[2][ia] >= min_conf) & (b[2][ib] >= min_conf) & np.isfinite(xa).all(-1) & np.isfinite(xb).all(-1)
    return xa[ok], xb[ok]


@dataclass(frozen=True)
class ViewPair:
    """Two views' relative pose and which of their tracks are the same person.

    R, t: X_b = R X_a + t (camera a at the origin, |t| = 1). pairs: (track in a, track in b).
    inliers / points: correspondences of the pairs that fit the pose, and all of them.
    parallax_deg: the median angle at which the inliers' rays meet (small: nearly degenerate).
    """

    R: np.ndarray
    t: np.ndarray
    pairs: tuple[tuple[int, int], ...]
    inliers: int
    points: int
    parallax_deg: float


def _assign(counts: np.ndarray, totals: np.ndarray, min_points: int) -> list[tuple[int, int]]:
    """Pairs (row, column) of a one-to-one assignment maximising the inlier counts, each pair kept
    when at least MIN_INLIER_SHARE of its correspondences and min_points / 2 are inliers."""
    from scipy.optimize import linear_sum_assignment

    if counts.size == 0:
        return []
    rows, cols = linear_sum_assignment(-counts)
    return [(int(r), int(c)) for r, c in zip(rows, cols, strict=True)
            if counts[r, c] >= max(min_points / 2, MIN_INLIER_SHARE * totals[r, c]) and counts[r, c] > 0]


def _candidates(rows: Sequence[Any], cols: Sequence[Any],
                points: Callable[[Any, Any], tuple[np.ndarray, np.ndarray]], min_points: int
                ) -> tuple[dict[tuple[int, int], tuple[np.ndarray, np.ndarray]], np.ndarray]:
    """Every (row, column) pairing's correspondences `points(row, col)` with at least min_points
    of them -> ({(i, j): (a, b)}, (R, C) counts)."""
    cands = {}
    for i, a in enumerate(rows):
        for j, b in enumerate(cols):
            pa, pb = points(a, b)
            if len(pa) >= min_points:
                cands[i, j] = (pa, pb)
    totals = np.zeros((len(rows), len(cols)))
    for (i, j), (pa, _) in cands.items():
        totals[i, j] = len(pa)
    return cands, totals


def match_views(tracks_a: Mapping[int, Track], tracks_b: Mapping[int, Track], threshold: float,
                min_conf: float = MIN_CONF, min_points: int = MIN_POINTS, max_seeds: int = 12,
                seed: int = 0) -> ViewPair | None:
    """Which track of view a is which of view b, and b's pose relative to a, from no calibration.

    tracks_*: {id: (frames, xy (T, 17, 2) normalised, conf (T, 17))}; threshold: the inlier Sampson
    distance, normalised units. Every track pairing with at least min_points correspondences (the
    largest max_seeds of them) seeds a hypothesis: its essential matrix; under it every pairing's
    inliers are counted, a one-to-one assignment of the tracks keeps the best-fitting pairs, the
    essential matrix is fitted again on all of them (twice). The hypothesis with the most inliers
    wins. None when no pairing has enough correspondences or no model fits.
    """
    ids_a, ids_b = sorted(tracks_a), sorted(tracks_b)
    cands, totals = _candidates(ids_a, ids_b,
                                lambda ta, tb: _pair_points(tracks_a[ta], tracks_b[tb], min_conf), min_points)
    if not cands:
        return None

    def fit(keys: tuple[Pairing, ...]) -> Model | None:
        return essential_pose(np.concatenate([cands[k][0] for k in keys]),
                              np.concatenate([cands[k][1] for k in keys]), threshold, seed)

    def inliers(model: Model, k: Pairing) -> int:
        return int(np.count_nonzero(sampson_distance(skew(model[1]) @ model[0], *cands[k]) < threshold))

    best = _best_hypothesis(cands, totals, fit, inliers, min_points, max_seeds)
    if best is None:
        return None
    n_in, chosen, (R, t, mask) = best
    x1 = np.concatenate([cands[k][0] for k in chosen])
    x2 = np.concatenate([cands[k][1] for k in chosen])
    return ViewPair(R, t, tuple((ids_a[i], ids_b[j]) for i, j in chosen), n_in, len(x1),
                    _parallax_deg(R, t, x1[mask], x2[mask]))


def _best_hypothesis(cands: Mapping[Pairing, tuple[np.ndarray, np.ndarray]], totals: np.ndarray,
                     fit: Callable[[tuple[Pairing, ...]], Model | None],
                     inliers: Callable[[Model, Pairing], int], min_points: int,
                     max_seeds: int) -> tuple[int, tuple[Pairing, ...], Model] | None:
    """The seeded hypothesis search `match_views` and `register_view` share. fit(pairings) -> a model
    (R, t, inlier mask over their pooled correspondences) or None; inliers(model, pairing) -> count.
    From each seed: fit, assign (`_assign` on every pairing's inliers), fit the assignment again,
    until it no longer changes (at most twice). -> (inliers, pairings, model) of the hypothesis with
    the most inliers, or None. Fits are memoised by their pairings (seeds often agree)."""
    memo: dict[tuple[Pairing, ...], Model | None] = {}

    def fitted(keys: tuple[Pairing, ...]) -> Model | None:
        if keys not in memo:
            memo[keys] = fit(keys)
        return memo[keys]

    best = None
    for s in _seeds(cands, max_seeds):
        keys = tuple(sorted(s))
        model = fitted(keys)
        for _ in range(2):
            if model is None:
                break
            counts = np.zeros_like(totals)
            for k in cands:
                counts[k] = inliers(model, k)
            chosen = tuple(sorted(_assign(counts, totals, min_points)))
            if not chosen:
                model = None
            elif chosen != keys:
                keys, model = chosen, fitted(chosen)
                continue
            break
        if model is None:
            continue
        n_in = int(model[2].sum())
        if best is None or n_in > best[0]:
            best = (n_in, keys, model)
    return best


def _seeds(cands: Mapping[Pairing, tuple[np.ndarray, ...]], max_seeds: int) -> list[list[Pairing]]:
    """The hypotheses' seeds: each of the max_seeds largest candidate pairings alone, then every two
    of the largest ones that share no track (two persons at once fix the geometry far better than
    one, whose joints over a short clip are nearly a rigid, thin point set)."""
    top = sorted(cands, key=lambda k: (-len(cands[k][0]), k))[:max_seeds]
    out = [[k] for k in top]
    few = top[:8]
    for i, k in enumerate(few):
        for m in few[i + 1:]:
            if k[0] != m[0] and k[1] != m[1]:
                out.append([k, m])
    return out


def _parallax_deg(R: np.ndarray, t: np.ndarray, x1: np.ndarray, x2: np.ndarray) -> float:
    """Median angle between the two rays of triangulated correspondences, degrees."""
    if len(x1) == 0:
        return 0.0
    P = np.stack([np.eye(3, 4), np.concatenate([R, t[:, None]], 1)])
    X = triangulate_dlt(P, np.stack([x1, x2], 1)[:, :, None], np.ones((len(x1), 2, 1)))[:, 0]
    C2 = camera_centre(R, t)
    d1, d2 = X, X - C2
    cos = (d1 * d2).sum(-1) / (np.linalg.norm(d1, axis=-1) * np.linalg.norm(d2, axis=-1))
    cos = cos[np.isfinite(cos)]
    return float(np.degrees(np.median(np.arccos(np.clip(cos, -1, 1))))) if cos.size else 0.0


# ---------------------------------------------------------------------------------------------
# More views: PnP on the persons triangulated so far


def pnp_pose(X: np.ndarray, x: np.ndarray, threshold: float,
             seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """A camera's pose from 3D points X (N, 3) and their normalised images x (N, 2): RANSAC PnP
    (threshold: normalised reprojection error), refined on the inliers. -> (R, t, inlier mask) or
    None (fewer than 6 points or no model)."""
    import cv2

    if len(X) < 6:
        return None
    cv2.setRNGSeed(seed)
    obj, img = np.ascontiguousarray(X, np.float64), np.ascontiguousarray(x, np.float64)
    try:
        ok, rvec, tvec, inl = cv2.solvePnPRansac(obj, img, np.eye(3), None, iterationsCount=500,
                                                 reprojectionError=float(threshold), confidence=0.999,
                                                 flags=cv2.SOLVEPNP_EPNP)
    except cv2.error:
        return None
    if not ok or inl is None or len(inl) < 6:
        return None
    idx = inl.reshape(-1)
    rvec, tvec = cv2.solvePnPRefineLM(obj[idx], img[idx], np.eye(3), None, rvec, tvec)
    R, t = rotation_matrix(rvec.reshape(3)), tvec.reshape(3)
    return R, t, _reprojection(R, t, X, x) < threshold


def _reprojection(R: np.ndarray, t: np.ndarray, X: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Normalised reprojection error (N,); inf behind the camera or for NaN points."""
    Xc = X @ R.T + t
    with np.errstate(divide="ignore", invalid="ignore"):
        err = np.linalg.norm(Xc[:, :2] / Xc[:, 2:] - x, axis=-1)
    return np.where((Xc[:, 2] > 0) & np.isfinite(err), err, np.inf)


@dataclass
class _Person:
    """A person being reconstructed: their track in each placed view, their 3D joints per frame."""

    tracks: dict[int, int]  # view -> track id
    frames: np.ndarray  # (T,)
    X: np.ndarray  # (T, 17, 3), NaN where not triangulated


def _person_points(person: _Person, track: Track, min_conf: float) -> tuple[np.ndarray, np.ndarray]:
    _, ip, it = np.intersect1d(person.frames, track[0], assume_unique=True, return_indices=True)
    X, x = person.X[ip], track[1][it]
    ok = np.isfinite(X).all(-1) & (track[2][it] >= min_conf) & np.isfinite(x).all(-1)
    return X[ok], x[ok]


def register_view(persons: Sequence[_Person], tracks: Mapping[int, Track], threshold: float,
                  min_conf: float = MIN_CONF, min_points: int = MIN_POINTS, max_seeds: int = 12,
                  seed: int = 0) -> tuple[np.ndarray, np.ndarray, dict[int, int], int] | None:
    """A new view's pose from the persons triangulated so far, and which of its tracks is which person.
    As `match_views`, with PnP instead of the essential matrix. -> (R, t, {person index: track
    id}, inliers) or None."""
    ids = sorted(tracks)
    cands, totals = _candidates(list(persons), ids,
                                lambda person, tid: _person_points(person, tracks[tid], min_conf), min_points)
    if not cands:
        return None

    def fit(keys: tuple[Pairing, ...]) -> Model | None:
        return pnp_pose(np.concatenate([cands[k][0] for k in keys]),
                        np.concatenate([cands[k][1] for k in keys]), threshold, seed)

    def inliers(model: Model, k: Pairing) -> int:
        return int(np.count_nonzero(_reprojection(model[0], model[1], *cands[k]) < threshold))

    best = _best_hypothesis(cands, totals, fit, inliers, min_points, max_seeds)
    if best is None:
        return None
    n_in, chosen, (R, t, _) = best
    return R, t, {p: ids[j] for p, j in chosen}, n_in


def _triangulate_person(person: _Person, poses: Mapping[int, tuple[np.ndarray, np.ndarray]],
                        xy: Sequence[Mapping[int, Track]], min_conf: float, max_error: float) -> _Person:
    """The person's joints triangulated (robustly) from every placed view they were matched in,
    on every frame at least two of those views see them."""
    views = sorted(person.tracks)
    frames = np.unique(np.concatenate([xy[v][person.tracks[v]][0] for v in views]))
    uv = np.full((len(frames), len(views), NUM_JOINTS, 2), np.nan)
    conf = np.zeros((len(frames), len(views), NUM_JOINTS))
    for k, v in enumerate(views):
        f, x, c = xy[v][person.tracks[v]]
        idx = np.searchsorted(frames, f)
        uv[idx, k], conf[idx, k] = x, c
    P = np.stack([np.concatenate([poses[v][0], poses[v][1][:, None]], 1) for v in views])
    X = triangulate_robust(P, uv, conf, min_conf, max_error).X
    return _Person(person.tracks, frames, X)


def _refine_placed(poses: Mapping[int, tuple[np.ndarray, np.ndarray]], persons: Sequence[_Person],
                   xy: Sequence[Mapping[int, Track]], focal: np.ndarray, fixed: int, scale_view: int,
                   min_conf: float, robust_px: float) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """The placed views' poses after a bundle adjustment on the persons so far (each view's
    normalised coordinates times its focal: centred pixels, so that robust_px means pixels)."""
    views = sorted(poses)
    col = {v: i for i, v in enumerate(views)}
    rows = [(pi, fi) for pi, p in enumerate(persons) for fi in range(len(p.frames))]
    if len(rows) > MAX_BA_POSES:
        rows = [rows[i] for i in np.unique(np.linspace(0, len(rows) - 1, MAX_BA_POSES).round().astype(int))]
    X, vi, pt, uv = [], [], [], []
    for pi, fi in rows:
        person = persons[pi]
        frame = person.frames[fi]
        for j in range(NUM_JOINTS):
            if not np.isfinite(person.X[fi, j]).all():
                continue
            seen = []
            for v, tid in person.tracks.items():
                f, x, c = xy[v][tid]
                k = np.searchsorted(f, frame)
                if k < len(f) and f[k] == frame and c[k, j] >= min_conf and np.isfinite(x[k, j]).all():
                    seen.append((col[v], x[k, j] * focal[v]))
            if len(seen) >= 2:
                for v, u in seen:
                    vi.append(v)
                    pt.append(len(X))
                    uv.append(u)
                X.append(person.X[fi, j])
    if len(X) < 10:
        return dict(poses)
    K = np.stack([np.diag([focal[v], focal[v], 1.0]) for v in views])
    Rs = np.stack([poses[v][0] for v in views])
    ts = np.stack([poses[v][1] for v in views])
    ba = bundle_adjust(Rs, ts, K, np.array(X), np.array(vi), np.array(pt), np.array(uv),
                       fixed_view=col[fixed], scale_view=col[scale_view], robust_px=robust_px)
    return {v: (ba.R[col[v]], ba.t[col[v]]) for v in views}


# ---------------------------------------------------------------------------------------------
# Bundle adjustment


@dataclass(frozen=True)
class BundleResult:
    """R (V, 3, 3), t (V, 3), focal scale (V,) (the new fx, fy are the old ones times it), X (N, 3),
    the pixel reprojection error of every observation (M,), and least_squares' status."""

    R: np.ndarray
    t: np.ndarray
    focal_scale: np.ndarray
    X: np.ndarray
    errors_px: np.ndarray
    nfev: int
    success: bool


def bundle_adjust(R: np.ndarray, t: np.ndarray, K: np.ndarray, X: np.ndarray, view: np.ndarray,
                  point: np.ndarray, uv: np.ndarray, weight: np.ndarray | None = None,
                  fixed_view: int = 0, scale_view: int | None = None,
                  refine_focal: Sequence[bool] | bool = False, robust_px: float = ROBUST_PX,
                  share_focal: bool = False, max_nfev: int = 100) -> BundleResult:
    """Cameras and points that best explain the observations, in pixels.

    R (V, 3, 3), t (V, 3), K (V, 3, 3) (pinhole, no skew); X (N, 3); observation m is point
    point[m] seen in view[m] at undistorted pixel uv[m] (M, 2), weighted by weight[m] (default 1).
    Residuals: sqrt(weight) x (projection - uv), soft_l1 loss with scale robust_px, minimised by
    scipy.optimize.least_squares (trust-region reflective, LSMR) with the analytic sparse Jacobian
    (a residual depends on its camera's 6 numbers, its focal scale when refined, its point's 3).
    Gauge: fixed_view keeps its R, t; with scale_view, the component of scale_view's translation
    (seen from fixed_view) that is largest keeps its value, which fixes the scale (otherwise it is
    free). refine_focal (bool or per view) lets those views' focal lengths scale (fx and fy
    together; the principal point stays); with share_focal, by one factor for all of them (one
    camera model: far better constrained than a focal per camera).
    """
    from scipy.optimize import least_squares
    from scipy.sparse import csr_matrix

    R = np.asarray(R, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    V, N, M = len(R), len(X), len(view)
    view, point = np.asarray(view), np.asarray(point)
    refine = np.broadcast_to(np.asarray(refine_focal, dtype=bool), (V,)).copy()
    sw = np.sqrt(np.ones(M) if weight is None else np.asarray(weight, dtype=np.float64))
    # Work in fixed_view's frame: it is then R = I, t = 0, and the world's scale is t_scale_view's.
    Ra, ta = R[fixed_view], t[fixed_view]
    R0 = R @ Ra.T
    t0 = t - np.einsum("vij,j->vi", R0, ta)
    X0 = np.asarray(X, dtype=np.float64) @ Ra.T + ta
    free = [v for v in range(V) if v != fixed_view]
    kept = -1 if scale_view is None or scale_view == fixed_view else int(np.argmax(np.abs(t0[scale_view])))
    # parameter layout: per free view rv (3) and t (3, less the kept component of scale_view), focal
    # scales of the refined views, points
    cam_cols: dict[int, np.ndarray] = {}
    n = 0
    for v in free:
        mask = np.ones(6, dtype=bool)
        if v == scale_view and kept >= 0:
            mask[3 + kept] = False
        cols = np.full(6, -1)
        cols[mask] = n + np.arange(mask.sum())
        cam_cols[v] = cols
        n += int(mask.sum())
    f_col = np.full(V, -1)
    n_focal = int(refine.any()) if share_focal else int(refine.sum())
    f_col[refine] = n + (np.zeros(int(refine.sum()), dtype=int) if share_focal else np.arange(refine.sum()))
    n += n_focal
    p_col = n
    n += 3 * N
    rv0 = rotation_vector_of(R0)
    fxy = np.stack([K[:, 0, 0], K[:, 1, 1]], 1)
    cxy = K[:, :2, 2]

    def unpack(p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        rv, tv = rv0.copy(), t0.copy()
        for v, cols in cam_cols.items():
            six = np.concatenate([rv[v], tv[v]])
            six[cols >= 0] = p[cols[cols >= 0]]
            rv[v], tv[v] = six[:3], six[3:]
        fs = np.ones(V)
        fs[refine] = p[f_col[refine]]
        return rv, tv, fs, p[p_col:].reshape(N, 3)

    def project(p: np.ndarray) -> tuple[np.ndarray, ...]:
        rv, tv, fs, Xp = unpack(p)
        Rm = rotation_matrix(rv)
        Xw = Xp[point]
        Xc = np.einsum("mij,mj->mi", Rm[view], Xw) + tv[view]
        z = np.where(np.abs(Xc[:, 2]) > 1e-9, Xc[:, 2], 1e-9)
        F = fxy[view] * fs[view][:, None]
        return rv, Rm, Xw, Xc, z, F, fs

    def residuals(p: np.ndarray) -> np.ndarray:
        _, _, _, Xc, z, F, _ = project(p)
        return (((Xc[:, :2] / z[:, None]) * F + cxy[view] - uv) * sw[:, None]).reshape(-1)

    # Jacobian pattern: 2 rows per observation; columns camera (6), focal (1), point (3)
    cam_idx = np.stack([cam_cols.get(v, np.full(6, -1)) for v in range(V)])[view]  # (M, 6)
    all_cols = np.concatenate([cam_idx, f_col[view][:, None], p_col + 3 * point[:, None] + np.arange(3)], 1)
    valid = all_cols >= 0  # (M, 10)
    rows = np.repeat(np.arange(2 * M).reshape(M, 2), 10, 1).reshape(M, 2, 10)
    colsb = np.broadcast_to(all_cols[:, None, :], (M, 2, 10))
    vb = np.broadcast_to(valid[:, None, :], (M, 2, 10))
    rows_s, cols_s = rows[vb], colsb[vb]

    def jacobian(p: np.ndarray) -> csr_matrix:
        rv, Rm, Xw, Xc, z, F, _ = project(p)
        x, y = Xc[:, 0], Xc[:, 1]
        dpi = np.zeros((M, 2, 3))  # d(projection) / d(Xc)
        dpi[:, 0, 0] = F[:, 0] / z
        dpi[:, 0, 2] = -F[:, 0] * x / z**2
        dpi[:, 1, 1] = F[:, 1] / z
        dpi[:, 1, 2] = -F[:, 1] * y / z**2
        Rv = Rm[view]
        d_rot = -np.einsum("mij,mjk,mkl->mil", Rv, skew(Xw), _right_jacobian(rv[view]))  # dXc / drv
        J = np.empty((M, 2, 10))
        J[:, :, 0:3] = dpi @ d_rot
        J[:, :, 3:6] = dpi
        J[:, :, 6] = (Xc[:, :2] / z[:, None]) * fxy[view]
        J[:, :, 7:10] = dpi @ Rv
        J *= sw[:, None, None]
        return csr_matrix((J[vb], (rows_s, cols_s)), shape=(2 * M, n))

    p0 = np.zeros(n)
    for v, cols in cam_cols.items():
        six = np.concatenate([rv0[v], t0[v]])
        p0[cols[cols >= 0]] = six[cols >= 0]
    p0[f_col[refine]] = 1.0
    p0[p_col:] = X0.reshape(-1)
    sol = least_squares(residuals, p0, jac=jacobian, loss="soft_l1", f_scale=robust_px, x_scale="jac",
                        method="trf", tr_solver="lsmr", max_nfev=max_nfev, xtol=1e-8, ftol=1e-8)
    rv, tv, fs, Xp = unpack(sol.x)
    R1 = rotation_matrix(rv) @ Ra  # back to the input's frame
    t1 = tv + np.einsum("vij,j->vi", rotation_matrix(rv), ta)
    X1 = (Xp - ta) @ Ra
    res = residuals(sol.x).reshape(M, 2) / sw[:, None]
    return BundleResult(R1, t1, fs, X1, np.linalg.norm(res, axis=-1), int(sol.nfev), bool(sol.success))


def _right_jacobian(rv: np.ndarray) -> np.ndarray:
    """SO(3)'s right Jacobian of rotation vectors (M, 3) -> (M, 3, 3): R(rv + d) ~ R(rv) Exp(J_r d)."""
    theta = np.linalg.norm(rv, axis=-1)[:, None, None]
    K = skew(rv)
    small = theta < 1e-6
    th = np.where(small, 1.0, theta)
    a = np.where(small, 0.5, (1 - np.cos(th)) / th**2)
    b = np.where(small, 1.0 / 6.0, (th - np.sin(th)) / th**3)
    return np.eye(3) - a * K + b * (K @ K)


# ---------------------------------------------------------------------------------------------
# Gauge and scale


def bone_scale(poses: np.ndarray, height: float | None = None, reference: np.ndarray | None = None) -> float:
    """The factor that brings the poses (N, 17, 3) to metres: per long bone (LONG_BONES), its
    reference length over its median measured length; the median of those. The reference: the
    bone lengths (16,) of an average adult (`reference`, default MEAN_BONE_LENGTHS), times
    height / MEAN_HEIGHT_M when the people's mean height is given. NaN without any bone."""
    lengths = bone_lengths(np.asarray(poses, dtype=np.float64))[..., list(LONG_BONES)]
    lengths = lengths.reshape(-1, len(LONG_BONES))
    base = np.asarray(MEAN_BONE_LENGTHS if reference is None else reference, dtype=np.float64)
    ref = base[list(LONG_BONES)] * ((height or MEAN_HEIGHT_M) / MEAN_HEIGHT_M)
    ratios = []
    for b in range(len(LONG_BONES)):
        col = lengths[:, b]
        col = col[np.isfinite(col) & (col > 0)]
        if col.size and np.isfinite(ref[b]) and ref[b] > 0:
            ratios.append(ref[b] / np.median(col))
    return float(np.median(ratios)) if ratios else float("nan")


def detector_bone_lengths(det3d: Sequence[np.ndarray]) -> np.ndarray | None:
    """The median length of every bone over the 2D detector's own metric 3D poses (BlazePose's
    world landmarks: (17, 3) each, NaN or None where absent). -> (16,), or None without any."""
    poses = [np.asarray(p, dtype=np.float64) for p in det3d if p is not None]
    if not poses:
        return None
    lengths = bone_lengths(np.stack(poses))
    lengths = np.where(np.isfinite(lengths) & (lengths > 0), lengths, np.nan)
    if not np.isfinite(lengths).any(0).all():
        return None
    return np.nanmedian(lengths, 0)


def up_direction(poses: np.ndarray) -> np.ndarray:
    """The people's vertical: the direction most of their trunks (pelvis -> thorax, unit vectors over
    all poses (N, 17, 3)) agree on. Their mean, then the mean of those within 30, 20, 15 and 10
    degrees of it in turn, each while at least a fifth of the trunks are that close: a mode, so
    that one person leaning, bending or kicking for a while does not tilt it (standing trunks are
    within a few degrees of vertical). (3,) unit."""
    v = np.asarray(poses)[:, Joint.THORAX] - np.asarray(poses)[:, Joint.PELVIS]
    v = v[np.isfinite(v).all(-1)]
    n = np.linalg.norm(v, axis=-1)
    v = v[n > 0] / n[n > 0, None]
    if not len(v):
        raise ValueError("up_direction: no pose with both pelvis and thorax")
    up = v.mean(0)
    up /= np.linalg.norm(up)
    for cone in UP_CONES_DEG:
        near = v[v @ up > math.cos(math.radians(cone))]
        if len(near) < max(3, 0.2 * len(v)):
            break
        up = near.mean(0)
        up /= np.linalg.norm(up)
    return up


def floor_frame(poses: np.ndarray, first_R: np.ndarray, world: str = "z-up") -> tuple[np.ndarray, np.ndarray]:
    """The world frame of the module docstring, for metric poses (N, 17, 3) and the first camera's
    rotation (world -> camera) in the same frame. -> (A, b): X_world = A @ X + b (A a rotation)."""
    if world not in ("z-up", "y-up"):
        raise ValueError(f"floor_frame: world must be z-up or y-up, got {world!r}")
    up = up_direction(poses)
    fwd = first_R[2] - (first_R[2] @ up) * up  # the first camera's optical axis, made horizontal
    if np.linalg.norm(fwd) < 1e-6:  # looking straight down: its image's up instead
        fwd = -first_R[1] - (-first_R[1] @ up) * up
    fwd /= np.linalg.norm(fwd)
    right = np.cross(fwd, up)
    if world == "z-up":  # x right, y forward, z up
        A = np.stack([right, fwd, up])
    else:  # y-up: x right, y up, z towards the camera (-forward)
        A = np.stack([right, up, -fwd])
    ankles = np.asarray(poses)[:, [Joint.LFOOT, Joint.RFOOT]].reshape(-1, 3)
    ankles = ankles[np.isfinite(ankles).all(-1)]
    if not len(ankles):
        ankles = np.asarray(poses).reshape(-1, 3)
        ankles = ankles[np.isfinite(ankles).all(-1)]
    h = ankles @ up
    floor = np.percentile(h, 10) - ANKLE_HEIGHT_M
    centre = ankles.mean(0)
    origin = centre - (centre @ up - floor) * up
    return A, -A @ origin


def umeyama(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """The similarity that best maps src (N, 3) onto dst (N, 3) in least squares: dst ~ s R src + t
    (Umeyama 1991). -> (s, R, t)."""
    mu_s, mu_d = src.mean(0), dst.mean(0)
    a, b = src - mu_s, dst - mu_d
    U, S, Vt = np.linalg.svd(b.T @ a / len(src))
    D = np.eye(3)
    if np.linalg.det(U) * np.linalg.det(Vt) < 0:
        D[2, 2] = -1
    R = U @ D @ Vt
    s = float(np.trace(np.diag(S) @ D) / (a**2).sum(1).mean())
    return s, R, mu_d - s * R @ mu_s


def robust_umeyama(src: np.ndarray, dst: np.ndarray, rounds: int = 3) -> tuple[float, np.ndarray, np.ndarray]:
    """`umeyama`, fitted again on the points within 3x the median residual (twice more)."""
    ok = np.isfinite(src).all(-1) & np.isfinite(dst).all(-1)
    src, dst = src[ok], dst[ok]
    keep = np.ones(len(src), dtype=bool)
    for _ in range(rounds):
        s, R, t = umeyama(src[keep], dst[keep])
        err = np.linalg.norm(s * src @ R.T + t - dst, axis=-1)
        keep = err <= 3 * np.median(err)
    return umeyama(src[keep], dst[keep])


# ---------------------------------------------------------------------------------------------
# The whole calibration


@dataclass(frozen=True)
class Calibration:
    """What `calibrate` found.

    cameras: the input cameras with extrinsics in the world (and the refined focal where asked).
    poses: (P, 17, 3) the triangulated people (world, metres) the bundle adjustment used, one row
    per person and frame; pose_frame / pose_person (P,): their frame and person (group) index.
    observations: (P, V, 17, 2) raw pixels of each pose's joints in each view (NaN: not used).
    errors_px: per view, the reprojection errors of its observations after the adjustment.
    scale: metres per unit of the reconstruction (the seed pair's baseline is 1 unit).
    seed_pair: the two views whose essential matrix started it; order: the order views were placed.
    groups: per person, {view: [track ids]}.
    """

    cameras: list[Camera]
    poses: np.ndarray
    pose_frame: np.ndarray
    pose_person: np.ndarray
    observations: np.ndarray
    errors_px: list[np.ndarray]
    scale: float
    seed_pair: tuple[int, int]
    order: list[int]
    groups: list[dict[int, list[int]]]
    world: str


def _check_inputs(cameras: Sequence[Camera], tracks: Sequence[Mapping[int, Track]],
                  names: Sequence[str]) -> None:
    if len(cameras) != len(tracks) or len(names) != len(cameras):
        raise ValueError(f"calibrate: {len(cameras)} cameras, {len(tracks)} track sets, {len(names)} names")
    if len(cameras) < 2:
        raise InputError(f"calibration needs at least 2 cameras, got {len(cameras)}")
    for v, ts in enumerate(tracks):
        for tid, (frames, uv, conf) in ts.items():
            T = len(frames)
            if np.shape(uv) != (T, NUM_JOINTS, 2) or np.shape(conf) != (T, NUM_JOINTS):
                raise ValueError(f"calibrate: {names[v]} track {tid}: shapes {np.shape(uv)}, "
                                 f"{np.shape(conf)}")


def calibrate(cameras: Sequence[Camera], tracks: Sequence[Mapping[int, Track]],
              names: Sequence[str] | None = None,
              refine_focal: Sequence[bool] | bool = False, height: float | None = None, world: str = "z-up",
              min_conf: float = MIN_CONF, seed: int = 0, bone_reference: np.ndarray | None = None,
              share_focal: bool = False) -> Calibration:
    """Extrinsics for every camera from the people in its tracks (module docstring, steps 1-7).

    cameras: intrinsics per view (any extrinsics are ignored); tracks: per view {track id:
    (frames (T,), uv (T, 17, 2) raw pixels, conf (T, 17))}; names: for messages (default cam0, ...);
    refine_focal: per view or for all, whether the bundle adjustment may change its focal length,
    share_focal: by one factor for all of them (when the focal ends more than REFOCUS from where it
    started, the whole calibration runs again from it); height: the people's mean height in metres;
    bone_reference: an average adult's 16 bone lengths (default MEAN_BONE_LENGTHS; the CLI passes
    `detector_bone_lengths` of BlazePose's 3D); world: one of WORLDS; min_conf: joints below it are
    not used; seed: OpenCV's RANSAC seed (the same input gives the same calibration). InputError
    (one line naming the cameras) when the people give too little to place a camera: no person seen
    by two cameras over enough frames, a camera sharing no person with the others.
    """
    names = list(names) if names is not None else [f"cam{v}" for v in range(len(cameras))]
    _check_inputs(cameras, tracks, names)
    if world not in WORLDS:
        raise ValueError(f"calibrate: world must be one of {WORLDS}, got {world!r}")
    if not any(len(ts) for ts in tracks):
        raise InputError("no person was found in any video")
    cameras = [replace(c, R=None, t=None) for c in cameras]
    cal = _calibrate_once(cameras, tracks, names, refine_focal, height, world, min_conf, seed, bone_reference,
                          share_focal)
    moved = [abs(a.fx / b.fx - 1) for a, b in zip(cal.cameras, cameras, strict=True)]
    if max(moved) > REFOCUS:  # placed with a focal that was far off: again, from the refined one
        start = [replace(c, fx=r.fx, fy=r.fy) for c, r in zip(cameras, cal.cameras, strict=True)]
        cal = _calibrate_once(start, tracks, names, refine_focal, height, world, min_conf, seed,
                              bone_reference, share_focal)
    return cal


def _calibrate_once(cameras: Sequence[Camera], tracks: Sequence[Mapping[int, Track]], names: Sequence[str],
                    refine_focal: Sequence[bool] | bool, height: float | None, world: str, min_conf: float,
                    seed: int, bone_reference: np.ndarray | None, share_focal: bool) -> Calibration:
    V = len(cameras)
    xy = [{tid: (np.asarray(f), normalize(cameras[v], np.asarray(uv, np.float64)), np.asarray(c, np.float64))
           for tid, (f, uv, c) in tracks[v].items()} for v in range(V)]
    poses, order, persons = place_cameras(cameras, xy, names, min_conf, seed)

    # 4. every track of every view in the groups of the persons (undistorted pixels from here on)
    und = [{tid: (np.asarray(f), undistort_points(cameras[v], np.asarray(uv, np.float64)),
                  np.asarray(c, np.float64)) for tid, (f, uv, c) in tracks[v].items()} for v in range(V)]
    K = np.stack([c.K for c in cameras])
    P = K @ np.stack([np.concatenate([poses[v][0], poses[v][1][:, None]], 1) for v in range(V)])
    scale_px = float(np.mean([_px_scale(c) for c in cameras]))
    groups = _associate(P, und, [p.tracks for p in persons], MAX_EPIPOLAR_PX * scale_px, min_conf)
    return adjust(cameras, tracks, poses, groups, order, refine_focal, height, world, min_conf,
                  bone_reference, share_focal)


def place_cameras(cameras: Sequence[Camera], xy: Sequence[Mapping[int, Track]], names: Sequence[str],
                  min_conf: float = MIN_CONF, seed: int = 0
                  ) -> tuple[dict[int, tuple[np.ndarray, np.ndarray]], list[int], list[_Person]]:
    """Steps 2-3: every view's pose (R, t) in the frame of the seed pair's first view, the seed
    baseline of length 1, from the normalised tracks `xy`; the order the views were placed in (the
    seed pair first); the persons reconstructed on the way (their tracks per view, their 3D)."""
    V = len(cameras)
    thr = [INLIER_PX * _px_scale(c) / float(np.mean(c.focal)) for c in cameras]  # normalised units
    pairs: dict[tuple[int, int], ViewPair] = {}
    for a in range(V):
        for b in range(a + 1, V):
            got = match_views(xy[a], xy[b], (thr[a] + thr[b]) / 2, min_conf, seed=seed)
            if got is not None:
                pairs[a, b] = got
    if not pairs:
        raise InputError(f"no person seen by two cameras over enough frames ({MIN_POINTS} confident joints) "
                         f"in {', '.join(names)}: nothing to calibrate from")
    usable = [k for k, p in pairs.items() if p.parallax_deg >= MIN_PARALLAX_DEG] or list(pairs)
    # the most inliers, weighted by how well the pair triangulates: rays meeting at 90 degrees best,
    # cameras facing each other (rays nearly opposite, depth along the baseline unknown) worst
    a, b = max(usable, key=lambda k: (pairs[k].inliers * math.sin(math.radians(pairs[k].parallax_deg)),
                                      -k[0], -k[1]))
    seed_pair = pairs[a, b]

    poses = {a: (np.eye(3), np.zeros(3)), b: (seed_pair.R, seed_pair.t)}
    order = [a, b]
    tri_err = float(np.mean([MAX_ERROR_PX * _px_scale(c) / float(np.mean(c.focal)) for c in cameras]))
    focal = np.array([float(np.mean(c.focal)) for c in cameras])
    robust = ROBUST_PX * float(np.mean([_px_scale(c) for c in cameras]))
    persons = [_triangulate_person(_Person({a: ta, b: tb}, np.zeros(0), np.zeros((0, NUM_JOINTS, 3))),
                                   poses, xy, min_conf, tri_err) for ta, tb in seed_pair.pairs]
    poses = _refine_placed(poses, persons, xy, focal, a, b, min_conf, robust)
    persons = [_triangulate_person(p, poses, xy, min_conf, tri_err) for p in persons]
    while len(order) < V:
        best = None
        for v in range(V):
            if v in poses:
                continue
            got = register_view(persons, xy[v], thr[v], min_conf, seed=seed)
            if got is not None and (best is None or got[3] > best[1][3]):
                best = (v, got)
        if best is None:
            missing = [names[v] for v in range(V) if v not in poses]
            raise InputError(f"cannot place {', '.join(missing)}: no person seen there is also seen by "
                             f"the cameras placed so far ({', '.join(names[v] for v in order)}) over "
                             f"enough frames")
        v, (R, t, assignment, _) = best
        poses[v] = (R, t)
        order.append(v)
        for p, tid in assignment.items():
            persons[p].tracks[v] = tid
        persons = [_triangulate_person(p, poses, xy, min_conf, tri_err) for p in persons]
        poses = _refine_placed(poses, persons, xy, focal, a, b, min_conf, robust)
        persons = [_triangulate_person(p, poses, xy, min_conf, tri_err) for p in persons]
    return poses, order, persons


def adjust(cameras: Sequence[Camera], tracks: Sequence[Mapping[int, Track]],
           poses: Mapping[int, tuple[np.ndarray, np.ndarray]], groups: Sequence[Mapping[int, Sequence[int]]],
           order: Sequence[int], refine_focal: Sequence[bool] | bool = False, height: float | None = None,
           world: str = "z-up", min_conf: float = MIN_CONF, bone_reference: np.ndarray | None = None,
           share_focal: bool = False) -> Calibration:
    """Steps 4-7 from placed views: per person (`groups`: {view: [track ids]}) and frame, swaps
    repaired and joints triangulated; the bundle adjustment (order[0] fixed, the distance to
    order[1] kept); metric scale; world frame."""
    V = len(cameras)
    a, b = order[0], order[1]
    und = [{tid: (np.asarray(f), undistort_points(cameras[v], np.asarray(uv, np.float64)),
                  np.asarray(c, np.float64)) for tid, (f, uv, c) in tracks[v].items()} for v in range(V)]
    scale_px = float(np.mean([_px_scale(c) for c in cameras]))
    K = np.stack([c.K for c in cameras])
    Rs = np.stack([poses[v][0] for v in range(V)])
    ts = np.stack([poses[v][1] for v in range(V)])
    P = K @ np.concatenate([Rs, ts[:, :, None]], 2)
    if not groups:
        raise InputError("the cameras were placed but no person could be followed across them")
    frames_all, person_all, uv_all, conf_all = _stack_groups(groups, und, V)
    raw_all = _stack_groups(groups, [{tid: (f, np.asarray(uv, np.float64), c) for tid, (f, uv, c) in
                                      tracks[v].items()} for v in range(V)], V)[2]

    if len(frames_all) > MAX_BA_POSES:
        keep = np.unique(np.linspace(0, len(frames_all) - 1, MAX_BA_POSES).round().astype(int))
        frames_all, person_all, uv_all, conf_all, raw_all = (a_[keep] for a_ in (frames_all, person_all,
                                                                                  uv_all, conf_all, raw_all))
    err_px = MAX_ERROR_PX * scale_px
    fscale = np.ones(V)
    for _ in range(ADJUST_ROUNDS):  # triangulate and select with the cameras so far, then adjust them
        P = K @ np.concatenate([Rs, ts[:, :, None]], 2)
        uv_r, conf_r, raw_r = uv_all.copy(), conf_all.copy(), raw_all.copy()
        if V >= 3:
            for i in range(len(frames_all)):
                fixed, cfix, swapped = repair_swaps(P, uv_r[i], conf_r[i], min_conf, err_px)
                if swapped.any():
                    perm = _swap_permutations(swapped)
                    uv_r[i], conf_r[i] = fixed, cfix
                    raw_r[i] = np.stack([raw_r[i, v, perm[v]] for v in range(V)])
        X = triangulate_robust(P, uv_r, conf_r, min_conf, err_px).X  # (P, 17, 3)
        proj_err = _pixel_errors(P, X, uv_r)
        use = (conf_r >= min_conf) & np.isfinite(proj_err) & (proj_err <= 3 * err_px)  # (P, V, 17)
        enough = use.sum(1) >= 2  # (P, 17)
        point_ids = np.flatnonzero(enough.reshape(-1))
        if len(point_ids) < 10:
            raise InputError(f"too few joints seen by two placed cameras ({len(point_ids)}) to refine the "
                             "calibration")

        # 5. bundle adjustment over the kept joints
        lookup = -np.ones(enough.size, dtype=int)
        lookup[point_ids] = np.arange(len(point_ids))
        pi, vi, ji = np.nonzero(use & enough[:, None, :])
        point = lookup[pi * NUM_JOINTS + ji]
        ba = bundle_adjust(Rs, ts, K, X.reshape(-1, 3)[point_ids], vi, point, uv_r[pi, vi, ji],
                           conf_r[pi, vi, ji], fixed_view=a, scale_view=b, refine_focal=refine_focal,
                           robust_px=ROBUST_PX * scale_px, share_focal=share_focal)
        Rs, ts = ba.R, ba.t
        K = K.copy()
        K[:, 0, 0] *= ba.focal_scale
        K[:, 1, 1] *= ba.focal_scale
        fscale *= ba.focal_scale
    X_new = np.full((enough.size, 3), np.nan)
    X_new[point_ids] = ba.X
    X_new = X_new.reshape(X.shape)
    errors_px = [ba.errors_px[vi == v] for v in range(V)]

    # 6.-7. metric scale, world frame
    scale = bone_scale(X_new, height, bone_reference)
    if not np.isfinite(scale):
        raise InputError("no bone was triangulated: cannot give the calibration a metric scale")
    Xm = X_new * scale
    tm = ba.t * scale
    if world == "first-camera":  # X_world = R_0 X + t_0: the first camera's frame
        A, c = ba.R[0], tm[0]
    else:
        A, c = floor_frame(Xm, ba.R[0], world)
    out = []
    for v in range(V):
        Rw = ba.R[v] @ A.T
        tw = tm[v] - Rw @ c
        fs = fscale[v]
        out.append(replace(cameras[v], fx=cameras[v].fx * fs, fy=cameras[v].fy * fs, R=Rw, t=tw))
    obs = np.where(use[..., None] & enough[:, None, :, None], raw_r, np.nan)
    return Calibration(out, Xm @ A.T + c, frames_all, person_all, obs, errors_px, scale, (a, b), list(order),
                       [{v: list(ts_) for v, ts_ in g.items()} for g in groups], world)


def _swap_permutations(swapped: np.ndarray) -> list[np.ndarray]:
    from .triangulate import GROUP_PERMUTATIONS

    out = []
    for row in swapped:
        perm = np.arange(NUM_JOINTS)
        for g, on in enumerate(row):
            if on:
                perm = perm[GROUP_PERMUTATIONS[g]]
        out.append(perm)
    return out


def _pixel_errors(P: np.ndarray, X: np.ndarray, uv: np.ndarray) -> np.ndarray:
    from .triangulate import reprojection_errors

    return reprojection_errors(P, X, uv)


def _associate(P: np.ndarray, tracks: Sequence[Mapping[int, Track]], known: Sequence[Mapping[int, int]],
               max_epipolar_px: float, min_conf: float) -> list[dict[int, list[int]]]:
    """Groups of tracks, one per person: the persons placing the cameras found (`known`: {view: track
    id}); then each other track, longest first, joins the group whose tracks in the other views it
    fits best (median symmetric epipolar distance over the frames they share below max_epipolar_px)
    unless that group's track in its own view overlaps it in time (a person tracked again after a
    loss, or seen by a camera only); the tracks left make new groups among themselves
    (`associate_tracks`)."""
    from .triangulate import fundamental_matrix, pose_epipolar_cost

    groups = [{v: [tid] for v, tid in g.items()} for g in known]
    used = {(v, tid) for g in known for v, tid in g.items()}
    F = {(v, w): fundamental_matrix(P[v], P[w]) for v in range(len(P)) for w in range(len(P)) if v != w}
    order = sorted(((v, tid) for v, ts in enumerate(tracks) for tid in ts if (v, tid) not in used),
                   key=lambda k: (-len(tracks[k[0]][k[1]][0]), k))
    for v, tid in order:
        f, uv, conf = tracks[v][tid]
        best, best_cost = None, max_epipolar_px
        for gi, g in enumerate(groups):
            if any(np.intersect1d(f, tracks[v][o][0]).size for o in g.get(v, [])):
                continue
            costs = []
            for w, others in g.items():
                if w == v:
                    continue
                for o in others:
                    fo, uvo, co = tracks[w][o]
                    _, i1, i2 = np.intersect1d(f, fo, assume_unique=True, return_indices=True)
                    c = pose_epipolar_cost(F[v, w], uv[i1], conf[i1], uvo[i2], co[i2], min_conf)
                    costs.extend(c[np.isfinite(c)].tolist())
            if len(costs) >= 5 and np.median(costs) < best_cost:
                best, best_cost = gi, float(np.median(costs))
        if best is not None:
            groups[best].setdefault(v, []).append(tid)
            used.add((v, tid))
    rest = [{tid: t for tid, t in ts.items() if (v, tid) not in used} for v, ts in enumerate(tracks)]
    for g in associate_tracks(P, rest, max_epipolar_px, min_conf):
        groups.append({v: [tid] for v, tid in g.items()})
    return [g for g in groups if len(g) >= 2]


def _stack_groups(groups: Sequence[Mapping[int, Sequence[int]]], tracks: Sequence[Mapping[int, Track]],
                  V: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per person and frame seen by two views or more: frame (P,), person (P,), uv (P, V, 17, 2)
    (NaN: not seen), conf (P, V, 17)."""
    frames_out, person_out, uv_out, conf_out = [], [], [], []
    for gi, g in enumerate(groups):
        frames = np.unique(np.concatenate([tracks[v][tid][0] for v, tids in g.items() for tid in tids]))
        uv = np.full((len(frames), V, NUM_JOINTS, 2), np.nan)
        conf = np.zeros((len(frames), V, NUM_JOINTS))
        for v, tids in g.items():
            for tid in tids:
                f, x, c = tracks[v][tid]
                idx = np.searchsorted(frames, f)
                uv[idx, v], conf[idx, v] = x, c
        seen = (conf.max(-1) > 0).sum(1) >= 2
        frames_out.append(frames[seen])
        person_out.append(np.full(int(seen.sum()), gi))
        uv_out.append(uv[seen])
        conf_out.append(conf[seen])
    if not frames_out:
        return (np.zeros(0, int), np.zeros(0, int), np.zeros((0, V, NUM_JOINTS, 2)),
                np.zeros((0, V, NUM_JOINTS)))
    return (np.concatenate(frames_out), np.concatenate(person_out), np.concatenate(uv_out),
            np.concatenate(conf_out))


def compare(cal: Calibration, reference: Sequence[Camera]) -> dict[str, object]:
    """How far `cal`'s cameras are from a reference calibration of the same cameras (in the same
    order), after the similarity that best maps the people triangulated with `cal` onto the same
    joints triangulated with the reference (`robust_umeyama`). -> {"scale": s (reference units per
    unit of cal: 1 for a right metric scale), "rotation_deg" (V,), "position_m" (V,),
    "position_pct" (V,) (of the reference camera's distance to the people's centre),
    "distance_m" (V,), "reference_error_px" [(M_v,)] (the reference's own reprojection errors on
    the same observations), "up_deg": the angle between `cal`'s up axis and the reference's z axis
    (for a z-up reference), "origin": `cal`'s world origin in the reference, "centres_position_pct"
    and "centres_rotation_deg": the errors after aligning the camera centres instead}."""
    V = len(reference)
    obs = cal.observations  # raw pixels
    und = np.stack([undistort_points(reference[v], obs[:, v]) for v in range(V)], 1)
    P = np.stack([c.K @ np.concatenate([c.R, c.t[:, None]], 1) for c in reference])
    w = np.isfinite(und).all(-1).astype(np.float64)
    scale_px = float(np.mean([_px_scale(c) for c in reference]))
    X_ref = triangulate_robust(P, np.nan_to_num(und), w, 0.5, MAX_ERROR_PX * scale_px).X
    s, R, t = robust_umeyama(cal.poses.reshape(-1, 3), X_ref.reshape(-1, 3))
    ok = np.isfinite(X_ref).all(-1)
    centre = X_ref[ok].mean(0)
    rot, pos, dist = [], [], []
    for v in range(V):
        C_ref = camera_centre(reference[v].R, reference[v].t)
        C = s * R @ camera_centre(cal.cameras[v].R, cal.cameras[v].t) + t
        R_al = cal.cameras[v].R @ R.T
        rot.append(rotation_angle_deg(R_al, reference[v].R))
        pos.append(float(np.linalg.norm(C - C_ref)))
        dist.append(float(np.linalg.norm(C_ref - centre)))
    from .triangulate import reprojection_errors

    err = reprojection_errors(P, X_ref, und)
    ref_err = [err[:, v][np.isfinite(err[:, v])] for v in range(V)]
    centres = np.stack([camera_centre(c.R, c.t) for c in cal.cameras])
    centres_ref = np.stack([camera_centre(c.R, c.t) for c in reference])
    s2, R2, t2 = umeyama(centres, centres_ref)
    pos_c = np.linalg.norm(s2 * centres @ R2.T + t2 - centres_ref, axis=-1)
    up = {"z-up": 2, "y-up": 1}.get(cal.world)
    up_deg = float(np.degrees(np.arccos(np.clip(R[2, up], -1, 1)))) if up is not None else float("nan")
    return {"scale": s, "rotation_deg": np.array(rot), "position_m": np.array(pos),
            "up_deg": up_deg, "origin": t,
            "position_pct": 100 * np.array(pos) / np.array(dist), "distance_m": np.array(dist),
            "reference_error_px": ref_err, "centres_position_pct": 100 * pos_c / np.array(dist),
            "centres_rotation_deg": np.array([rotation_angle_deg(c.R @ R2.T, r.R)
                                              for c, r in zip(cal.cameras, reference, strict=True)])}
