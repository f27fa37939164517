"""Triangulation, left/right repair and association on a synthetic 4-camera rig around people."""

import numpy as np
import pytest

from camerapose.core.skeleton import MIRROR, NUM_JOINTS, Joint
from camerapose.core.triangulate import (
    GROUP_PERMUTATIONS,
    associate,
    associate_tracks,
    epipolar_distance,
    fundamental_matrix,
    pose_epipolar_cost,
    project_points,
    repair_swaps,
    reprojection_errors,
    triangulate_dlt,
    triangulate_robust,
)

# A standing person in world metres (z up, facing +y, so their right is -x), arms a little forward.
BODY = np.array([
    [0.00, 0.00, 0.95],   # pelvis
    [-0.12, 0.00, 0.93],  # rhip
    [-0.13, 0.03, 0.50],  # rknee
    [-0.14, 0.00, 0.08],  # rfoot
    [0.12, 0.00, 0.93],   # lhip
    [0.13, 0.03, 0.50],   # lknee
    [0.14, 0.00, 0.08],   # lfoot
    [0.00, 0.00, 1.18],   # spine
    [0.00, 0.00, 1.43],   # thorax
    [0.00, 0.06, 1.55],   # neck/nose
    [0.00, 0.02, 1.70],   # head
    [0.18, 0.00, 1.42],   # lshoulder
    [0.25, 0.06, 1.15],   # lelbow
    [0.28, 0.18, 0.95],   # lwrist
    [-0.18, 0.00, 1.42],  # rshoulder
    [-0.25, 0.06, 1.15],  # relbow
    [-0.28, 0.18, 0.95],  # rwrist
])


def look_at(centre, target=(0.0, 0.0, 1.0), f=1100.0, cx=960.0, cy=540.0):
    """P (3, 4) of a 1920x1080 camera at `centre` looking at `target` (OpenCV axes, world z up)."""
    centre = np.asarray(centre, float)
    z = np.asarray(target, float) - centre
    z /= np.linalg.norm(z)
    x = np.cross(z, [0.0, 0.0, 1.0])
    x /= np.linalg.norm(x)
    R = np.stack([x, np.cross(z, x), z])
    K = np.array([[f, 0, cx], [0, f, cy], [0, 0, 1.0]])
    return K @ np.hstack([R, (-R @ centre)[:, None]])


# Four cameras on a 5 m circle at the corners, 1.6-2.2 m high (not all at one height, as in a real rig).
RIG = np.stack([
    look_at((5 * np.cos(a), 5 * np.sin(a), h))
    for a, h in zip(np.deg2rad([45, 135, 225, 315]), [1.6, 2.2, 1.8, 2.0], strict=True)
])


def pose(x=0.0, y=0.0, yaw=0.0):
    """BODY turned by yaw (degrees) about the vertical and moved to (x, y) on the floor."""
    c, s = np.cos(np.deg2rad(yaw)), np.sin(np.deg2rad(yaw))
    Rz = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    return BODY @ Rz.T + [x, y, 0.0]


def views(X, noise=0.0, seed=0):
    uv = project_points(RIG, X)
    return uv + np.random.default_rng(seed).normal(0, noise, uv.shape)


def ones():
    return np.ones((4, NUM_JOINTS))


# --- DLT and reprojection -------------------------------------------------------------------


def test_dlt_recovers_noise_free_points_exactly():
    X = pose(0.3, -0.2, 30)
    np.testing.assert_allclose(triangulate_dlt(RIG, views(X), ones()), X, atol=1e-6)
    assert np.nanmax(reprojection_errors(RIG, X, views(X))) < 1e-6


def test_dlt_error_with_one_pixel_noise_is_below_a_centimetre():
    X = pose()
    err = np.linalg.norm(triangulate_dlt(RIG, views(X, 1.0), ones()) - X, axis=-1)
    assert err.max() < 0.01


def test_dlt_is_vectorised_over_leading_dims_and_ignores_zero_weight_views():
    Xs = np.stack([pose(), pose(1, 0, 90)])
    uv = np.stack([views(X) for X in Xs])  # (2, 4, 17, 2)
    w = np.ones((2, 4, NUM_JOINTS))
    uv[:, 2] += 300.0  # garbage in a view with no weight
    w[:, 2] = 0.0
    np.testing.assert_allclose(triangulate_dlt(RIG, uv, w), Xs, atol=1e-6)


def test_fewer_than_two_views_gives_nan():
    X = pose()
    uv, w = views(X), ones()
    w[1:, 3] = 0.0  # right foot: one view
    w[:, 5] = 0.0  # left knee: none
    uv[2:, 9] = np.nan  # neck: two views left, still fine
    out = triangulate_dlt(RIG, uv, w)
    assert np.isnan(out[[3, 5]]).all()
    np.testing.assert_allclose(np.delete(out, [3, 5], 0), np.delete(X, [3, 5], 0), atol=1e-6)


def test_reprojection_errors_are_nan_behind_the_camera_and_for_nan_points():
    X = pose().copy()
    X[0] = np.nan
    X[1] = [10.0, 10.0, 2.0]  # far behind camera 0 (at +x, +y)
    e = reprojection_errors(RIG, X, views(pose()))
    assert np.isnan(e[:, 0]).all() and np.isnan(e[0, 1]) and np.isfinite(e[:, 2:]).all()


# --- robust triangulation ---------------------------------------------------------------------


def test_robust_excludes_an_outlier_view_that_spoils_plain_dlt():
    X = pose(0.2, 0.1, -20)
    uv = views(X, 1.0, seed=1)
    bad = [Joint.LWRIST, Joint.RKNEE, Joint.HEAD]
    uv[2, bad] += np.array([40.0 / np.sqrt(2)] * 2)  # 40 px off in view 2
    plain = np.linalg.norm(triangulate_dlt(RIG, uv, ones()) - X, axis=-1)
    res = triangulate_robust(RIG, uv, ones())
    robust = np.linalg.norm(res.X - X, axis=-1)
    assert plain[bad].min() > 0.02  # several centimetres off
    assert robust.max() < 0.01
    assert not res.used[2, bad].any() and res.used[[0, 1, 3]][:, bad].all()
    assert res.used[:, np.setdiff1d(np.arange(NUM_JOINTS), bad)].all()  # all 4 where all agree
    assert np.all(res.error < 5.0)


def test_robust_ignores_low_confidence_views_and_needs_min_views():
    X = pose()
    uv, conf = views(X, 0.5, seed=2), ones()
    uv[0, :] += 80.0
    conf[0, :] = 0.1  # view 0 is garbage but says so
    conf[1:3, Joint.HEAD] = 0.2  # head: only view 3 left
    res = triangulate_robust(RIG, uv, conf)
    assert not res.used[0].any()
    assert np.isnan(res.X[Joint.HEAD]).all() and not res.used[:, Joint.HEAD].any()
    assert np.isnan(res.error[Joint.HEAD])
    ok = np.arange(NUM_JOINTS) != Joint.HEAD
    assert np.linalg.norm(res.X[ok] - X[ok], axis=-1).max() < 0.01
    strict = triangulate_robust(RIG, uv, conf, min_views=3)
    assert np.isnan(strict.X[Joint.HEAD]).all() and np.isfinite(strict.X[ok]).all()


def test_robust_per_view_threshold_and_batch_dims():
    Xs = np.stack([pose(), pose(-1, 0.5, 60)])
    uv = np.stack([views(X, 1.0, seed=3) for X in Xs])
    uv[1, 0, Joint.LFOOT] += 12.0  # 12 px: within 20 px, beyond a 6 px threshold
    res = triangulate_robust(RIG, uv, np.ones((2, 4, NUM_JOINTS)))
    assert res.X.shape == (2, NUM_JOINTS, 3) and res.used.shape == (2, 4, NUM_JOINTS)
    assert res.used.all()
    tight = triangulate_robust(RIG, uv, np.ones((2, 4, NUM_JOINTS)), max_error_px=np.full((4, 1), 6.0))
    assert not tight.used[1, 0, Joint.LFOOT] and tight.used[0].all()


# --- left/right repair ------------------------------------------------------------------------


def test_group_permutations_make_up_the_mirror():
    both = GROUP_PERMUTATIONS[0][GROUP_PERMUTATIONS[1]]
    assert tuple(both) == MIRROR


@pytest.mark.parametrize("yaw", [0, 70, 160, 250])
def test_a_mirrored_view_is_detected_and_repaired(yaw):
    X = pose(0.3, -0.2, yaw)
    uv = views(X, 1.5, seed=4)
    conf = np.random.default_rng(5).uniform(0.6, 1.0, (4, NUM_JOINTS))
    bad_uv, bad_conf = uv.copy(), conf.copy()
    bad_uv[1], bad_conf[1] = uv[1, list(MIRROR)], conf[1, list(MIRROR)]
    fixed_uv, fixed_conf, swapped = repair_swaps(RIG, bad_uv, bad_conf)
    assert swapped.tolist() == [[False, False], [True, True], [False, False], [False, False]]
    np.testing.assert_array_equal(fixed_uv, uv)
    np.testing.assert_array_equal(fixed_conf, conf)
    whole = repair_swaps(RIG, bad_uv, bad_conf, per_limb=False)
    assert whole[2].tolist() == swapped.tolist()


@pytest.mark.parametrize("yaw", [0, 70, 160, 250])
def test_correct_views_are_never_swapped(yaw):
    for seed in range(5):
        uv = views(pose(-0.5, 0.4, yaw), 3.0, seed=seed)
        fixed, _, swapped = repair_swaps(RIG, uv, ones())
        assert not swapped.any()
        np.testing.assert_array_equal(fixed, uv)


def test_legs_in_one_view_and_arms_in_another():
    # (Legs mirrored in 2 of 4 views would be a tie no reprojection error can break.)
    X = pose(0.0, 0.3, 20)
    uv = views(X, 1.0, seed=6)
    bad = uv.copy()
    bad[0] = uv[0, GROUP_PERMUTATIONS[0]]  # legs only in view 0
    bad[3] = uv[3, GROUP_PERMUTATIONS[1]]  # arms only in view 3
    fixed, _, swapped = repair_swaps(RIG, bad, ones())
    assert swapped.tolist() == [[True, False], [False, False], [False, False], [False, True]]
    np.testing.assert_array_equal(fixed, uv)


def test_two_mirrored_views_of_six():
    angles = np.deg2rad(np.arange(0, 360, 60) + 15)
    rig = np.stack([look_at((5 * np.cos(a), 5 * np.sin(a), 1.8)) for a in angles])
    X = pose(0.2, 0.0, 40)
    uv = project_points(rig, X) + np.random.default_rng(11).normal(0, 1.0, (6, NUM_JOINTS, 2))
    bad = uv.copy()
    bad[[1, 4]] = uv[[1, 4]][:, list(MIRROR)]
    fixed, _, swapped = repair_swaps(rig, bad, np.ones((6, NUM_JOINTS)))
    assert swapped.tolist() == [[v in (1, 4)] * 2 for v in range(6)]
    np.testing.assert_array_equal(fixed, uv)


# --- association ------------------------------------------------------------------------------

PEOPLE = [pose(-1.0, 0.4, 0), pose(0.9, 0.1, 120), pose(0.1, -1.1, 250)]


def detections(people, noise=1.5, seed=7, missing=(), mirrored=()):
    """Per view, the people in a shuffled order; returns (people lists, truth: person -> {view: idx})."""
    rng = np.random.default_rng(seed)
    out, truth = [], [{} for _ in people]
    for v in range(4):
        here = [p for p in range(len(people)) if (v, p) not in missing]
        order = rng.permutation(here)
        dets = []
        for i, p in enumerate(order):
            uv = project_points(RIG[v : v + 1], people[p])[0] + rng.normal(0, noise, (NUM_JOINTS, 2))
            conf = rng.uniform(0.5, 1.0, NUM_JOINTS)
            if (v, p) in mirrored:
                uv = uv[list(MIRROR)]
            dets.append((uv, conf))
            truth[p][v] = i
        out.append(dets)
    return out, truth


def same_groups(groups, truth):
    want = [t for t in truth if len(t) >= 2]
    return sorted(sorted(g.items()) for g in groups) == sorted(sorted(t.items()) for t in want)


def test_epipolar_distance_is_zero_for_one_point_and_grows_off_the_line():
    X = pose()
    uv = views(X)
    F = fundamental_matrix(RIG[0], RIG[2])
    assert epipolar_distance(F, uv[0], uv[2]).max() < 1e-6
    moved = uv[2] + [0.0, 25.0]
    d = epipolar_distance(F, uv[0], moved)
    assert 0.0 < d.min() and d.max() <= 25.0 + 1e-9
    # the transpose goes the other way
    assert epipolar_distance(F.T, uv[2], uv[0]).max() < 1e-6
    # a mirrored detection of the same person is as cheap as a correct one when mirror-invariant
    c = np.ones(NUM_JOINTS)
    assert pose_epipolar_cost(F, uv[0], c, uv[2][list(MIRROR)], c) < 1e-6
    assert pose_epipolar_cost(F, uv[0], c, uv[2][list(MIRROR)], c, mirror_invariant=False) > 5.0


def test_associate_recovers_three_people_across_four_views():
    dets, truth = detections(PEOPLE)
    assert same_groups(associate(RIG, dets), truth)


def test_associate_with_a_person_missing_from_one_view_and_a_mirrored_detection():
    dets, truth = detections(PEOPLE, seed=8, missing={(2, 1)}, mirrored={(3, 0)})
    groups = associate(RIG, dets)
    assert same_groups(groups, truth)
    assert sorted(len(g) for g in groups) == [3, 4, 4]


def test_associate_drops_or_keeps_single_view_people():
    dets, truth = detections(PEOPLE, seed=9, missing={(0, 2), (1, 2), (2, 2)})
    assert same_groups(associate(RIG, dets), truth)  # person 2 is in view 3 only: dropped
    kept = associate(RIG, dets, min_views=1)
    assert {3: truth[2][3]} in kept and len(kept) == 3


def test_associate_tracks_over_a_short_clip():
    rng = np.random.default_rng(10)
    T = 20
    walk = [np.stack([pose(-1.0 + 0.05 * t, 0.4, 0) for t in range(T)]),
            np.stack([pose(0.9, 0.1 - 0.05 * t, 120) for t in range(T)]),
            np.stack([pose(0.1 - 0.03 * t, -1.1, 250) for t in range(T)])]
    tracks, truth = [], [{} for _ in walk]
    for v in range(4):
        ids = rng.choice(100, len(walk), replace=False)
        tv = {}
        for p, X in enumerate(walk):
            frames = np.sort(rng.choice(T, 15, replace=False))  # each track misses some frames
            uv = project_points(RIG[v : v + 1], X[frames])[:, 0] + rng.normal(0, 1.5, (15, NUM_JOINTS, 2))
            conf = rng.uniform(0.5, 1.0, (15, NUM_JOINTS))
            uv[:2] += rng.normal(0, 80, (2, 1, 2))  # two frames with a bad detection
            tv[int(ids[p])] = (frames, uv, conf)
            truth[p][v] = int(ids[p])
        tracks.append(tv)
    assert same_groups(associate_tracks(RIG, tracks), truth)
    # too few co-visible frames: no evidence, nothing grouped
    assert associate_tracks(RIG, tracks, min_frames=T + 1) == []


# --- shapes -----------------------------------------------------------------------------------


def test_shape_errors_raise():
    uv, w = views(pose()), ones()
    with pytest.raises(ValueError, match="P"):
        triangulate_dlt(RIG[:, :2], uv, w)
    with pytest.raises(ValueError, match="uv"):
        triangulate_dlt(RIG, uv[:3], w)
    with pytest.raises(ValueError, match="w"):
        triangulate_dlt(RIG, uv, w[:, :5])
    with pytest.raises(ValueError, match="conf"):
        triangulate_robust(RIG, uv, w[:3])
    with pytest.raises(ValueError, match="uv"):
        repair_swaps(RIG, uv[:, :10], w[:, :10])
    with pytest.raises(ValueError, match="X"):
        reprojection_errors(RIG, np.zeros((NUM_JOINTS, 2)), uv)
    with pytest.raises(ValueError, match="views"):
        associate(RIG, [[(uv[0], w[0])]])
    with pytest.raises(ValueError, match="conf"):
        associate(RIG, [[(uv[v], w[v, :5])] for v in range(4)])
    with pytest.raises(ValueError, match="repeat"):
        associate_tracks(RIG, [{0: (np.array([0, 0]), uv[:2], w[:2])}, {}, {}, {}])
