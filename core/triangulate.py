"""Multi-view triangulation of H36M-17 keypoints: DLT, outlier-robust subsets, left/right repair and
cross-view association of persons.

Cameras are projection matrices P (V, 3, 4) = K [R | t] in pixels (world -> image, no distortion:
undistort the 2D points first). 2D keypoints are pixels (..., V, J, 2) with a confidence in [0, 1]
(..., V, J); a NaN coordinate counts as not seen. Returned 3D points are in the world unit of P
(metres in this project) and NaN where they could not be triangulated.

The pieces, in the order a multi-camera frame goes through them:
- `associate` / `associate_tracks`: which detection (or 2D track) in each view is which person,
  from the symmetric epipolar distance between their joints;
- `repair_swaps`: a detector sometimes labels a whole person (or just the legs or arms) mirrored in
  one view; the other views' consensus tells, and the labels are swapped back;
- `triangulate_robust`: per joint, the largest set of confident views that agree (every member
  reprojects within a threshold), triangulated with `triangulate_dlt`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np

from .shapes import check_shape
from .skeleton import MIRROR, NUM_JOINTS, Joint

# Defaults, for 1920x1080 frames of people a few metres away (a standing person is then some
# 400-800 px tall). A good detector is off by a few pixels per joint (5-10 px on wrists and feet);
# the errors this module exists to catch (a joint on the wrong person or the wrong side, a limb
# lost in occlusion) are tens of pixels and more.
MIN_CONF = 0.3  # below this a detector's joint is usually a guess
MAX_ERROR_PX = 20.0  # reprojection error a view may have and still count as agreeing
MAX_EPIPOLAR_PX = 30.0  # mean symmetric epipolar distance below which two detections may match

# The left/right joint pairs of each limb group that `repair_swaps` can swap on its own.
SWAP_GROUPS: tuple[str, ...] = ("legs", "arms")
_GROUP_PAIRS: tuple[tuple[tuple[Joint, Joint], ...], ...] = (
    ((Joint.LHIP, Joint.RHIP), (Joint.LKNEE, Joint.RKNEE), (Joint.LFOOT, Joint.RFOOT)),
    ((Joint.LSHOULDER, Joint.RSHOULDER), (Joint.LELBOW, Joint.RELBOW), (Joint.LWRIST, Joint.RWRIST)),
)


def _group_permutation(pairs: Sequence[tuple[Joint, Joint]]) -> np.ndarray:
    perm = np.arange(NUM_JOINTS)
    for left, right in pairs:
        perm[left], perm[right] = right, left
    perm.flags.writeable = False
    return perm


# pose[..., GROUP_PERMUTATIONS[g], :] swaps the left and right joints of group g only; both
# groups together are skeleton.MIRROR.
GROUP_PERMUTATIONS: tuple[np.ndarray, ...] = tuple(_group_permutation(p) for p in _GROUP_PAIRS)
_MIRROR = np.asarray(MIRROR)


# ---------------------------------------------------------------------------------------------
# Projection and DLT


def project_points(P: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Project 3D points into every view. P (V, 3, 4), X (..., J, 3) -> (..., V, J, 2) pixels.

    NaN where X is NaN or the point is not in front of the camera.
    """
    dims = check_shape("P", P, ("V", 3, 4))
    check_shape("X", X, (..., "J", 3), dims)
    Xh = np.concatenate([X, np.ones_like(X[..., :1])], -1)
    x = np.einsum("vik,...jk->...vji", P, Xh)
    # The depth's sign is that of det(M) * w (Hartley & Zisserman 6.2.3), so a P scaled by a
    # negative factor still tells front from back.
    sign = np.sign(np.linalg.det(P[:, :, :3]))[:, None]
    front = x[..., 2] * sign > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        uv = x[..., :2] / x[..., 2:]
    return np.where(front[..., None], uv, np.nan)


def reprojection_errors(P: np.ndarray, X: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Pixel distance between X's projections and the 2D points.

    P (V, 3, 4), X (..., J, 3), uv (..., V, J, 2) -> (..., V, J); NaN where X or uv is NaN or the
    point is behind the camera.
    """
    dims = check_shape("P", P, ("V", 3, 4))
    check_shape("X", X, (..., "J", 3), dims)
    check_shape("uv", uv, (..., "V", "J", 2), dims)
    return np.linalg.norm(project_points(P, X) - uv, axis=-1)


def triangulate_dlt(P: np.ndarray, uv: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Confidence-weighted linear (DLT) triangulation of every joint.

    P (V, 3, 4), uv (..., V, J, 2), w (..., V, J) -> X (..., J, 3). Each view gives two rows
    u P3 - P1 and v P3 - P2, normalised to unit length (so that no view dominates by the scale of
    its P or its pixel coordinates) and scaled by the view's weight; X is the null vector of the
    stacked rows. Views with w <= 0 or a NaN coordinate are left out; a joint with fewer than 2
    views left, or at infinity, is NaN. Exact for noise-free points.
    """
    dims = check_shape("P", P, ("V", 3, 4))
    check_shape("uv", uv, (..., "V", "J", 2), dims)
    check_shape("w", w, uv.shape[:-1])
    P = np.asarray(P, dtype=np.float64)
    valid = (w > 0) & np.isfinite(uv).all(-1)
    w = np.where(valid, w, 0.0)
    uv = np.where(valid[..., None], uv, 0.0)
    rows = uv[..., None] * P[:, None, 2:3, :] - P[:, None, :2, :]  # (..., V, J, 2, 4)
    norm = np.linalg.norm(rows, axis=-1, keepdims=True)
    rows = rows / np.where(norm > 0, norm, 1.0) * w[..., None, None]
    A = np.moveaxis(rows, -4, -3)  # (..., J, V, 2, 4)
    A = A.reshape(*A.shape[:-3], -1, 4)
    Xh = np.linalg.svd(A)[2][..., -1, :]  # full_matrices: vh is (4, 4) even for one view
    scale = np.abs(Xh[..., 3]) > 1e-12
    ok = (valid.sum(-2) >= 2) & scale
    with np.errstate(divide="ignore", invalid="ignore"):
        X = Xh[..., :3] / np.where(scale, Xh[..., 3], 1.0)[..., None]
    return np.where(ok[..., None], X, np.nan)


# ---------------------------------------------------------------------------------------------
# Robust triangulation


@dataclass(frozen=True)
class RobustTriangulation:
    """What `triangulate_robust` found, for points (..., J).

    X: (..., J, 3) world points, NaN where no set of views agreed.
    used: (..., V, J) bool, the views each point was triangulated from.
    error: (..., J) mean reprojection error (pixels) over the used views, NaN where X is NaN.
    """

    X: np.ndarray
    used: np.ndarray
    error: np.ndarray


def triangulate_robust(
    P: np.ndarray,
    uv: np.ndarray,
    conf: np.ndarray,
    min_conf: float = MIN_CONF,
    max_error_px: float | np.ndarray = MAX_ERROR_PX,
    min_views: int = 2,
) -> RobustTriangulation:
    """Triangulate each joint from the largest set of views that agree with each other.

    P (V, 3, 4), uv (..., V, J, 2), conf (..., V, J) -> RobustTriangulation of (..., J) points.
    Per joint, among the views with conf >= min_conf, every subset of at least min_views views
    is triangulated (DLT weighted by confidence); a subset agrees when its point reprojects
    within max_error_px in every member view. The largest agreeing subset wins, ties going to
    the smallest mean error. The search is exhaustive (2^V subsets, all joints at once per
    subset): meant for the V <= ~8 cameras of a capture rig.

    max_error_px is pixels, a scalar or anything broadcastable to (..., V, J): e.g. per view,
    0.04 x the person's 2D height there, for rigs whose people are far smaller or larger than the
    default's (20 px: a few times a good detector's error on a ~600 px tall person in a 1080p
    frame, and below the 30+ px of a joint on the wrong side or the wrong person).

    Two views always nearly agree (one point fits both up to the epipolar error), so a joint seen
    by exactly two confident views is only as trustworthy as those two.
    """
    dims = check_shape("P", P, ("V", 3, 4))
    check_shape("uv", uv, (..., "V", "J", 2), dims)
    check_shape("conf", conf, uv.shape[:-1])
    if min_views < 2:
        raise ValueError(f"triangulate_robust: min_views must be at least 2, got {min_views}")
    V = dims["V"]
    batch = uv.shape[:-3]
    thr = np.broadcast_to(np.asarray(max_error_px, dtype=np.float64), conf.shape)
    cand = (conf >= min_conf) & np.isfinite(uv).all(-1)  # (..., V, J)

    subsets = [s for k in range(V, min_views - 1, -1) for s in combinations(range(V), k)]
    if not subsets:  # fewer cameras than min_views
        nan = np.full((*batch, dims["J"]), np.nan)
        return RobustTriangulation(np.stack([nan] * 3, -1), np.zeros(conf.shape, bool), nan)
    members = np.zeros((len(subsets), V), dtype=bool)
    for i, s in enumerate(subsets):
        members[i, list(s)] = True
    size = members.sum(-1)
    mb = members.reshape(len(subsets), *(1,) * len(batch), V, 1)  # (S, ..., V, 1)

    complete = np.all(cand | ~mb, axis=-2)  # (S, ..., J): every member is a candidate
    Xs = triangulate_dlt(P, np.broadcast_to(uv, (len(subsets), *uv.shape)), np.where(mb & cand, conf, 0.0))
    err = reprojection_errors(P, Xs, np.broadcast_to(uv, (len(subsets), *uv.shape)))  # (S, ..., V, J)
    agree = np.all((err <= thr) | ~mb, axis=-2)
    good = complete & agree & np.isfinite(Xs).all(-1)
    sz = size.reshape(-1, *(1,) * (good.ndim - 1))  # (S, 1..., 1) against (S, ..., J)
    mean_err = np.where(mb, np.nan_to_num(err, nan=np.inf), 0.0).sum(-2) / sz

    best_size = np.where(good, sz, 0).max(0)  # (..., J)
    key = np.where(good & (sz == best_size), mean_err, np.inf)
    best = np.argmin(key, axis=0)  # (..., J)
    found = best_size > 0
    X = np.take_along_axis(Xs, best[None, ..., None], 0)[0]
    X = np.where(found[..., None], X, np.nan)
    error = np.where(found, np.take_along_axis(mean_err, best[None], 0)[0], np.nan)
    used = np.moveaxis(members[best], -1, -2) & found[..., None, :]  # (..., V, J)
    return RobustTriangulation(X, used, error)


# ---------------------------------------------------------------------------------------------
# Left/right repair


def repair_swaps(
    P: np.ndarray,
    uv: np.ndarray,
    conf: np.ndarray,
    min_conf: float = MIN_CONF,
    max_error_px: float | np.ndarray = MAX_ERROR_PX,
    factor: float = 2.0,
    margin_px: float = 10.0,
    per_limb: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Find the views in which one person's left and right are swapped, and swap them back.

    P (V, 3, 4), uv (V, 17, 2), conf (V, 17) -> (uv_fixed (V, 17, 2), conf_fixed (V, 17),
    swapped (V, 2) bool): column g says whether SWAP_GROUPS[g] ("legs", "arms") was swapped in
    that view; `swapped.any(-1)` is "this view was touched". One person, one frame.

    A view's group is a candidate when it fits the other views clearly better exchanged: the
    others triangulate the person (`triangulate_robust`, leave-one-out), and the mean reprojection
    error over the group's joints confident on both sides, as-is vs. exchanged, must drop to at
    most 1/factor AND by at least margin_px (the factor alone would swap views seen side-on,
    where left and right project a few pixels apart and either labelling fits). Of the
    candidates, the one that most lowers the reprojection error of all confident views together
    (all-view DLT, each error capped at 3 x max_error_px) is swapped, if it lowers it at all; then
    everything is scored again, until no candidate is left. The second test matters when two
    views are wrong: a correct view judged by a consensus that a mirrored view spoiled can look
    clear, but swapping it makes the whole worse. A group is never swapped back.

    With per_limb=False the 12 joints are scored and swapped together (more evidence per
    decision; cannot fix the legs alone). Limits: two views cannot judge each other (V >= 3
    needed); a group mirrored in half the views is a tie that no reprojection error can break;
    a side-on view (left and right < ~2 x margin_px apart) is left as it is.
    """
    dims = check_shape("P", P, ("V", 3, 4))
    check_shape("uv", uv, ("V", NUM_JOINTS, 2), dims)
    check_shape("conf", conf, ("V", NUM_JOINTS), dims)
    V = dims["V"]
    uv = np.array(uv, dtype=np.float64)
    conf = np.array(conf, dtype=np.float64)
    if per_limb:
        perms = list(GROUP_PERMUTATIONS)
        cols = [[0], [1]]
    else:
        perms = [_MIRROR]
        cols = [[0, 1]]
    swapped = np.zeros((V, len(SWAP_GROUPS)), dtype=bool)
    done = np.zeros((V, len(perms)), dtype=bool)
    loo = ~np.eye(V, dtype=bool)[:, :, None]  # (V, V, 1): row v leaves view v out
    moved = [perm != np.arange(NUM_JOINTS) for perm in perms]
    thr = np.broadcast_to(np.asarray(max_error_px, dtype=np.float64), conf.shape)
    views = np.arange(V)

    G = len(perms)
    for _ in range(V * G):
        consensus = triangulate_robust(P, np.broadcast_to(uv, (V, *uv.shape)), np.where(loo, conf, 0.0),
                                       min_conf, max_error_px).X  # (V, 17, 3): row v from the others
        proj = project_points(P, consensus)[views, views]  # (V, 17, 2): row v in view v
        clear = np.zeros((V, G), dtype=bool)
        for g, perm in enumerate(perms):
            seen = (conf >= min_conf) & (conf[:, perm] >= min_conf) & np.isfinite(proj).all(-1) & moved[g]
            n = seen.sum(-1)
            with np.errstate(invalid="ignore"):
                keep = np.where(seen, np.linalg.norm(proj - uv, axis=-1), 0.0).sum(-1) / n
                swap = np.where(seen, np.linalg.norm(proj - uv[:, perm], axis=-1), 0.0).sum(-1) / n
            clear[:, g] = (n >= 2) & (swap * factor <= keep) & (keep - swap >= margin_px) & ~done[:, g]
        if not clear.any():
            break
        # Rank the clear candidates by how much they shrink the reprojection error of all the
        # confident views together: a correct view judged by a consensus that a mirrored view has
        # spoiled can look clear too, but swapping it makes the whole worse, not better.
        cand = np.argwhere(clear)
        uv_c = np.repeat(uv[None], len(cand) + 1, 0)
        conf_c = np.repeat(conf[None], len(cand) + 1, 0)
        for i, (v, g) in enumerate(cand, 1):
            uv_c[i, v], conf_c[i, v] = uv[v, perms[g]], conf[v, perms[g]]
        total = np.stack([_group_residual(P, uv_c, conf_c, min_conf, thr, m) for m in moved], -1)  # (1+C, G)
        gain = total[0, cand[:, 1]] - total[1:][np.arange(len(cand)), cand[:, 1]]
        if gain.max() <= 0:
            break
        v, g = cand[np.argmax(gain)]
        uv[v] = uv[v, perms[g]]
        conf[v] = conf[v, perms[g]]
        done[v, g] = True
        swapped[v, cols[g]] = True
    return uv, conf, swapped


def _group_residual(
    P: np.ndarray, uv: np.ndarray, conf: np.ndarray, min_conf: float, thr: np.ndarray, joints: np.ndarray
) -> np.ndarray:
    """Sum of the reprojection errors of the confident views, each capped at 3 x thr, of the
    all-view DLT of the given joints. uv (B, V, 17, 2), conf (B, V, 17) -> (B,); the cap keeps one
    gross outlier from outweighing the rest."""
    w = np.where(conf >= min_conf, conf, 0.0)
    err = reprojection_errors(P, triangulate_dlt(P, uv, w), uv)
    err = np.where(w > 0, np.minimum(np.nan_to_num(err, nan=np.inf), 3 * thr), 0.0)
    return err[..., joints].sum((-1, -2))


# ---------------------------------------------------------------------------------------------
# Epipolar geometry


def fundamental_matrix(P1: np.ndarray, P2: np.ndarray) -> np.ndarray:
    """The fundamental matrix from view 1 to view 2. P1, P2 (3, 4) -> F (3, 3), unit norm.

    x2^T F x1 = 0 for the images x1, x2 of one point; F = [e2]x P2 P1^+ with e2 = P2 C1, C1 the
    centre of camera 1 (Hartley & Zisserman 9.2.2).
    """
    check_shape("P1", P1, (3, 4))
    check_shape("P2", P2, (3, 4))
    C1 = np.linalg.svd(P1)[2][-1]  # null vector of P1: the camera centre
    e2 = P2 @ C1
    ex = np.array([[0.0, -e2[2], e2[1]], [e2[2], 0.0, -e2[0]], [-e2[1], e2[0], 0.0]])
    F = ex @ P2 @ np.linalg.pinv(P1)
    return F / np.linalg.norm(F)


def epipolar_distance(F: np.ndarray, uv1: np.ndarray, uv2: np.ndarray) -> np.ndarray:
    """Symmetric epipolar distance in pixels. F (3, 3), uv1, uv2 (..., 2) -> (...).

    The mean of uv2's distance to the epipolar line of uv1 in image 2 and uv1's distance to the
    line of uv2 in image 1: zero for the two images of one 3D point, whatever its depth.
    """
    check_shape("F", F, (3, 3))
    check_shape("uv1", uv1, (..., 2))
    check_shape("uv2", uv2, (..., 2))
    x1 = np.concatenate([uv1, np.ones_like(uv1[..., :1])], -1)
    x2 = np.concatenate([uv2, np.ones_like(uv2[..., :1])], -1)
    l2 = x1 @ F.T  # lines in image 2, (..., 3)
    l1 = x2 @ F  # lines in image 1
    alg = np.abs((x2 * l2).sum(-1))  # |x2^T F x1|, the same for both lines
    with np.errstate(divide="ignore", invalid="ignore"):
        return 0.5 * (alg / np.hypot(l2[..., 0], l2[..., 1]) + alg / np.hypot(l1[..., 0], l1[..., 1]))


def pose_epipolar_cost(
    F: np.ndarray,
    uv1: np.ndarray,
    conf1: np.ndarray,
    uv2: np.ndarray,
    conf2: np.ndarray,
    min_conf: float = MIN_CONF,
    min_joints: int = 3,
    mirror_invariant: bool = True,
) -> np.ndarray:
    """How well two detections in two views fit one person: pixels, lower is better.

    F (3, 3) from view 1 to view 2; uv1, uv2 (..., J, 2), conf1, conf2 (..., J) -> (...). The
    mean symmetric epipolar distance over the joints confident (>= min_conf) in both, weighted by
    the product of the confidences; inf with fewer than min_joints such joints. With
    mirror_invariant (needs J = 17) the cost is the smaller of the two left/right labellings of
    the second person, so a detection mirrored in one view still finds its match (and
    `repair_swaps` fixes it afterwards).
    """
    check_shape("F", F, (3, 3))
    dims = check_shape("uv1", uv1, (..., "J", 2))
    check_shape("uv2", uv2, (..., "J", 2), dims)
    check_shape("conf1", conf1, uv1.shape[:-1])
    check_shape("conf2", conf2, uv2.shape[:-1])
    if mirror_invariant and dims["J"] != NUM_JOINTS:
        raise ValueError(f"pose_epipolar_cost: mirror_invariant needs {NUM_JOINTS} joints, got {dims['J']}")
    perms = [np.arange(dims["J"])] + ([_MIRROR] if mirror_invariant else [])
    costs = []
    for perm in perms:
        u2, c2 = uv2[..., perm, :], conf2[..., perm]
        d = epipolar_distance(F, uv1, u2)
        ok = (conf1 >= min_conf) & (c2 >= min_conf) & np.isfinite(d)
        w = np.where(ok, conf1 * c2, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            cost = (w * np.where(ok, d, 0.0)).sum(-1) / w.sum(-1)
        costs.append(np.where((ok.sum(-1) >= min_joints) & (w.sum(-1) > 0), cost, np.inf))
    return np.min(costs, axis=0)


# ---------------------------------------------------------------------------------------------
# Association


def _group_greedy(
    views: np.ndarray, cost: np.ndarray, max_cost: float, min_views: int
) -> list[list[int]]:
    """Average-linkage agglomeration of nodes, never two nodes of one view in one cluster.

    views (N,) the view of each node, cost (N, N) symmetric, inf = no evidence -> clusters as
    lists of node indices with at least min_views nodes. Clusters merge in ascending order of
    their linkage (the mean finite cost over all cross pairs) while it is below max_cost.
    """
    clusters: list[list[int]] = [[i] for i in range(len(views))]
    while True:
        best, pair = max_cost, None
        for a in range(len(clusters)):
            va = set(views[clusters[a]].tolist())
            for b in range(a + 1, len(clusters)):
                if va & set(views[clusters[b]].tolist()):
                    continue
                c = cost[np.ix_(clusters[a], clusters[b])]
                c = c[np.isfinite(c)]
                if c.size and c.mean() < best:
                    best, pair = c.mean(), (a, b)
        if pair is None:
            break
        a, b = pair
        clusters[a] = clusters[a] + clusters[b]
        del clusters[b]
    return [c for c in clusters if len(c) >= min_views]


def _as_groups(nodes: list[tuple[int, int]], clusters: list[list[int]]) -> list[dict[int, int]]:
    groups = [dict(sorted(nodes[i] for i in c)) for c in clusters]
    return sorted(groups, key=lambda g: (-len(g), sorted(g.items())))


def associate(
    P: np.ndarray,
    people: Sequence[Sequence[tuple[np.ndarray, np.ndarray]]],
    max_epipolar_px: float = MAX_EPIPOLAR_PX,
    min_conf: float = MIN_CONF,
    min_joints: int = 3,
    min_views: int = 2,
    mirror_invariant: bool = True,
) -> list[dict[int, int]]:
    """Which detection in each view is which person, for one synchronised frame.

    P (V, 3, 4); people[v] lists view v's detections as (uv (J, 2), conf (J,)) -> groups, each a
    dict view -> index into people[v]; a detection is in at most one group. Groups are found by
    `_group_greedy` on `pose_epipolar_cost` (pixels): the two cheapest compatible clusters merge
    first, while their mean cross-pair cost is below max_epipolar_px. Groups with fewer than
    min_views views are dropped (by default the persons seen in one view only: nothing to
    triangulate); min_views=1 keeps them as groups of one. Sorted by size, then by their members.

    A frame-by-frame grouping can change from frame to frame (two people crossing one camera's
    epipolar plane); `associate_tracks` decides once per clip.
    """
    dims = check_shape("P", P, ("V", 3, 4))
    if len(people) != dims["V"]:
        raise ValueError(f"associate: people has {len(people)} views, P has {dims['V']}")
    nodes = [(v, i) for v, ps in enumerate(people) for i in range(len(ps))]
    jdims: dict[str, int] = {}
    for v, i in nodes:
        check_shape(f"people[{v}][{i}] uv", people[v][i][0], ("J", 2), jdims)
        check_shape(f"people[{v}][{i}] conf", people[v][i][1], ("J",), jdims)

    def pair_cost(F: np.ndarray, a: tuple[int, int], b: tuple[int, int]) -> float:
        (uv1, c1), (uv2, c2) = people[a[0]][a[1]], people[b[0]][b[1]]
        return float(pose_epipolar_cost(F, uv1, c1, uv2, c2, min_conf, min_joints, mirror_invariant))

    cost = _pairwise(P, nodes, pair_cost)
    return _as_groups(nodes, _group_greedy(np.array([v for v, _ in nodes]), cost, max_epipolar_px, min_views))


Track = tuple[np.ndarray, np.ndarray, np.ndarray]


def associate_tracks(
    P: np.ndarray,
    tracks: Sequence[Mapping[int, Track]],
    max_epipolar_px: float = MAX_EPIPOLAR_PX,
    min_conf: float = MIN_CONF,
    min_joints: int = 3,
    min_frames: int = 5,
    min_views: int = 2,
    mirror_invariant: bool = True,
) -> list[dict[int, int]]:
    """Which 2D track in each view is which person, once for a whole clip.

    P (V, 3, 4); tracks[v] maps track id -> (frames (T,) int, unique; uv (T, J, 2); conf (T, J))
    -> groups, each a dict view -> track id; a track is in at most one group. The cost of two
    tracks of two views is the median over their co-visible frames of `pose_epipolar_cost`
    (finite frames only; inf with fewer than min_frames), so a few frames with a bad detection or
    people crossing an epipolar plane do not decide; grouping as in `associate`.

    Consistent over time by construction: one grouping for the whole clip, so a person keeps the
    same track in every view on every frame. The flip side: a 2D tracker's identity switch inside
    a track is not undone here (the median goes with the longer part); cut tracks at switches first.
    """
    dims = check_shape("P", P, ("V", 3, 4))
    if len(tracks) != dims["V"]:
        raise ValueError(f"associate_tracks: tracks has {len(tracks)} views, P has {dims['V']}")
    nodes = [(v, tid) for v, ts in enumerate(tracks) for tid in sorted(ts)]
    jdims: dict[str, int] = {}
    for v, tid in nodes:
        frames, uv, conf = tracks[v][tid]
        tdims = check_shape(f"tracks[{v}][{tid}] frames", frames, ("T",))
        check_shape(f"tracks[{v}][{tid}] uv", uv, ("T", "J", 2), {**tdims, **jdims})
        jdims["J"] = uv.shape[1]
        check_shape(f"tracks[{v}][{tid}] conf", conf, ("T", "J"), {**tdims, **jdims})
        if len(np.unique(frames)) != len(frames):
            raise ValueError(f"tracks[{v}][{tid}] frames: frame numbers repeat")

    def pair_cost(F: np.ndarray, a: tuple[int, int], b: tuple[int, int]) -> float:
        (f1, uv1, c1), (f2, uv2, c2) = tracks[a[0]][a[1]], tracks[b[0]][b[1]]
        _, i1, i2 = np.intersect1d(f1, f2, assume_unique=True, return_indices=True)
        per_frame = pose_epipolar_cost(F, uv1[i1], c1[i1], uv2[i2], c2[i2], min_conf, min_joints,
                                       mirror_invariant)
        per_frame = per_frame[np.isfinite(per_frame)]
        return float(np.median(per_frame)) if per_frame.size >= max(min_frames, 1) else np.inf

    cost = _pairwise(P, nodes, pair_cost)
    return _as_groups(nodes, _group_greedy(np.array([v for v, _ in nodes]), cost, max_epipolar_px, min_views))


_PairCost = Callable[[np.ndarray, tuple[int, int], tuple[int, int]], float]


def _pairwise(P: np.ndarray, nodes: list[tuple[int, int]], pair_cost: _PairCost) -> np.ndarray:
    """(N, N) symmetric cost of every pair of nodes in different views; inf within a view."""
    F = {(a, b): fundamental_matrix(P[a], P[b]) for a in range(len(P)) for b in range(len(P)) if a < b}
    cost = np.full((len(nodes), len(nodes)), np.inf)
    for i, a in enumerate(nodes):
        for k in range(i + 1, len(nodes)):
            b = nodes[k]
            if a[0] != b[0]:
                first, second = (a, b) if a[0] < b[0] else (b, a)
                cost[i, k] = cost[k, i] = pair_cost(F[first[0], second[0]], first, second)
    return cost
