"""The motion library: deterministic, human bodies, on the ground, no limbs through each other,
and joints that move together as in real movement."""

from __future__ import annotations

import numpy as np
import pytest

from camerapose.core.errors import InputError
from camerapose.core.skeleton import SYMMETRIC_BONES, Joint, bone_lengths
from camerapose.train.data.motions import MOTIONS, sample_motion_poses

J = Joint
FEET, HANDS, KNEES = [J.LFOOT, J.RFOOT], [J.LWRIST, J.RWRIST], [J.LKNEE, J.RKNEE]
TRUNK = [J.PELVIS, J.LHIP, J.RHIP, J.SPINE, J.THORAX, J.LSHOULDER, J.RSHOULDER, J.HEAD]
# What may touch the floor in each motion (the test's own table).
SUPPORT = {m: FEET for m in MOTIONS}
SUPPORT |= {"pick_up": FEET + HANDS, "bend": FEET + HANDS, "lunge": FEET + KNEES, "kneel": FEET + KNEES,
            "crawl": FEET + KNEES + HANDS, "lie": TRUNK + FEET + HANDS,
            "get_up": TRUNK + FEET + KNEES + HANDS,
            "handstand": HANDS, "cartwheel": FEET + HANDS}
# Limb capsules (start, end, radius m); the trunk starts 20 % up from the pelvis.
LIMBS = {"trunk": (J.PELVIS, J.THORAX, 0.13), "head": (J.NECK, J.HEAD, 0.09),
         "lthigh": (J.LHIP, J.LKNEE, 0.07), "rthigh": (J.RHIP, J.RKNEE, 0.07),
         "lshin": (J.LKNEE, J.LFOOT, 0.05), "rshin": (J.RKNEE, J.RFOOT, 0.05),
         "lupper": (J.LSHOULDER, J.LELBOW, 0.05), "rupper": (J.RSHOULDER, J.RELBOW, 0.05),
         "lfore": (J.LELBOW, J.LWRIST, 0.04), "rfore": (J.RELBOW, J.RWRIST, 0.04)}
JOINED = {("trunk", "head"), ("trunk", "lthigh"), ("trunk", "rthigh"), ("trunk", "lupper"),
          ("trunk", "rupper"), ("lthigh", "lshin"), ("rthigh", "rshin"), ("lupper", "lfore"),
          ("rupper", "rfore")}


@pytest.fixture(scope="module")
def per_motion() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(11)
    return {m: sample_motion_poses(rng, 300, (m,)) for m in MOTIONS}


def _angle(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Degrees between vectors (N,3) and (N,3)."""
    cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    return np.degrees(np.arccos(np.clip(cos, -1, 1)))


def _knee_flexion(P: np.ndarray, hip: int, knee: int, foot: int) -> np.ndarray:
    return 180 - _angle(P[:, hip] - P[:, knee], P[:, foot] - P[:, knee])


def test_same_seed_same_poses_other_seed_other_poses():
    a = sample_motion_poses(np.random.default_rng(3), 400)
    b = sample_motion_poses(np.random.default_rng(3), 400)
    c = sample_motion_poses(np.random.default_rng(4), 400)
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)


def test_every_motion_gives_finite_pelvis_centred_poses(per_motion):
    for name, P in per_motion.items():
        assert P.shape == (300, 18, 3), name
        assert np.isfinite(P).all() and np.all(P[:, J.PELVIS] == 0), name
        assert np.ptp(P, axis=0).max() > 0.2, name  # the motion actually moves
    assert sample_motion_poses(np.random.default_rng(0), 0).shape == (0, 18, 3)


def test_bodies_are_human_sized_symmetric_and_vary_in_proportion(per_motion):
    P = np.concatenate(list(per_motion.values()))
    lengths = bone_lengths(P[:, :17])
    for left, right in SYMMETRIC_BONES:
        assert np.allclose(lengths[:, left], lengths[:, right])
    thigh = lengths[:, J.RKNEE - 1]
    assert 0.33 < thigh.min() and thigh.max() < 0.56
    trunk = np.linalg.norm(P[:, J.THORAX], axis=1)
    assert 0.37 < trunk.min() and trunk.max() < 0.65
    assert np.std(thigh / trunk) > 0.02  # not only uniformly scaled
    eyes_to_nose = np.linalg.norm(P[:, 17] - P[:, J.NECK], axis=1)
    assert np.all(eyes_to_nose < 0.06)


def test_no_joint_goes_through_the_floor(per_motion):
    for name, P in per_motion.items():
        ground = P[:, SUPPORT[name], 1].min(1)
        below = ground[:, None] - P[..., 1]
        assert below.max() <= 0.03 + 1e-9, (name, below.max())


def test_no_two_limbs_pass_through_each_other(per_motion):
    s = np.linspace(0, 1, 13)
    names = list(LIMBS)
    for name, P in per_motion.items():
        P, pts = P[:150], {}
        for limb, (a, b, _) in LIMBS.items():
            start = P[:, a] + (0.2 * (P[:, b] - P[:, a]) if limb == "trunk" else 0)
            pts[limb] = start[:, None] + s[None, :, None] * (P[:, b] - start)[:, None]  # (N, 13, 3)
        for i, x in enumerate(names):
            for y in names[i + 1:]:
                if (x, y) in JOINED:
                    continue
                gap = np.linalg.norm(pts[x][:, :, None] - pts[y][:, None], axis=-1).min((1, 2))
                assert gap.min() >= LIMBS[x][2] + LIMBS[y][2] - 0.02 - 1e-9, (name, x, y, gap.min())


def test_walking_feet_alternate_and_arms_swing_with_the_opposite_leg(per_motion):
    P = sample_motion_poses(np.random.default_rng(5), 2000, ("walk",))
    lead = P[:, J.LFOOT, 2] - P[:, J.RFOOT, 2]
    assert 0.3 < (lead > 0).mean() < 0.7
    arm_lead = P[:, J.LWRIST, 2] - P[:, J.RWRIST, 2]
    assert np.corrcoef(arm_lead, -lead)[0, 1] > 0.5  # left hand forward with the right foot
    # Thigh angles forward of vertical: left and right hips move in antiphase.
    flex = {s: np.degrees(np.arctan2((P[:, k, 2] - P[:, h, 2]), P[:, h, 1] - P[:, k, 1]))
            for s, h, k in (("l", J.LHIP, J.LKNEE), ("r", J.RHIP, J.RKNEE))}
    assert np.corrcoef(flex["l"], flex["r"])[0, 1] < -0.5
    assert np.corrcoef(P[:, J.LWRIST, 2], flex["r"])[0, 1] > 0.3
    assert flex["l"].min() < -5 and 20 < flex["l"].max() < 50  # about -10..+30 deg


def test_sitting_pelvis_at_knee_height(per_motion):
    P = per_motion["sit"]
    knees = P[:, KNEES, 1].mean(1)
    assert np.mean(np.abs(P[:, J.PELVIS, 1] - knees) < 0.12) > 0.95
    hip_flex = _angle(P[:, J.THORAX] - P[:, J.PELVIS], P[:, J.LKNEE] - P[:, J.LHIP])
    assert 60 < np.median(hip_flex) < 120


def test_lying_trunk_is_near_horizontal(per_motion):
    P = per_motion["lie"]
    assert np.all(_angle(P[:, J.THORAX] - P[:, J.PELVIS], np.array([[0.0, 1, 0]])) > 60)


def test_handstand_head_below_pelvis(per_motion):
    P = per_motion["handstand"]
    assert np.all(P[:, J.HEAD, 1] < P[:, J.PELVIS, 1])
    assert np.all(P[:, HANDS, 1].max(1) < P[:, J.HEAD, 1])


def test_squat_bottom_bends_the_knees_past_60_degrees(per_motion):
    P = per_motion["squat"]
    height = P[:, J.PELVIS, 1] - P[:, FEET, 1].min(1)
    bottom = height <= np.quantile(height, 0.2)
    knee = _knee_flexion(P, J.LHIP, J.LKNEE, J.LFOOT)
    assert np.all(knee[bottom] > 60)
    assert np.corrcoef(height, knee)[0, 1] < -0.8  # lower pelvis, deeper knees


def test_crawling_rests_on_hands_and_knees(per_motion):
    P = per_motion["crawl"]
    ground = P[:, SUPPORT["crawl"], 1].min(1)
    hands = P[:, HANDS, 1].min(1) - ground
    assert np.median(hands) < 0.08
    assert np.all(P[:, J.HEAD, 1] - ground > 0.3)


def test_unknown_motion_or_negative_count_is_an_input_error():
    with pytest.raises(InputError, match="unknown motions"):
        sample_motion_poses(np.random.default_rng(0), 10, ("moonwalk",))
    with pytest.raises(InputError):
        sample_motion_poses(np.random.default_rng(0), -1)
