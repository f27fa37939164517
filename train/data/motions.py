"""A library of parametric human motions: the main 3D training source.

The joint-angle prior (`synthetic.py`) draws every angle on its own, so it teaches a pose prior
that real bodies do not follow. Here every pose is a point on a whole movement: joint angles are
functions of one phase (gait curves as a few Fourier terms, other movements as eased keyframes),
so hips, knees, arms, trunk and head move together as in real motion. Each draw randomises the
phase (sampled along the whole cycle), speed/amplitude, style (arm placement, kick type, ...),
a small per-joint style offset, the side (every motion is mirrored left/right half of the time)
and the body shape (height N(1.72, 0.09) m, leg/trunk ratio, arm length, shoulder and hip width;
left = right).

Sagittal-plane movements are written in world segment angles (pelvis tilt, trunk lean, thigh,
shin and arm angles from the vertical) and converted to the joint angles of
`synthetic.forward_kinematics`; that keeps feet under the body and lets a squat's trunk lean
follow from balance. Whole-body orientation (lying, crawling, handstand, cartwheel) is part of
the pose: a root rotation yaw @ roll @ pitch of the pelvis frame.

Gait facts used (normal walking, Winter/Perry norms): hip flexion about +30 deg at heel strike to
-10 deg at toe-off (~60 % of the cycle); knee 5 deg at heel strike, ~18 deg loading response,
~60 deg peak in swing; arms swing with the opposite leg; pelvis rotates +-4-8 deg with the thorax
counter-rotating. Running (Novacheck 1998): stance ~40 % of the cycle, hip +35..50 to -10..-15
deg, knee ~20 at contact, ~40 in stance, 100-130 deg in swing, elbows held at ~80-100 deg, trunk
leaning forward with speed.

Rejection (`_accept`): the ground is the lowest of each motion's support joints (feet standing,
knees/feet/hands crawling, hands in a handstand, the trunk lying) and a pose with any joint more
than `GROUND_TOL` below it is redrawn; so is a pose where two non-adjacent limb capsules overlap
by more than `OVERLAP_TOL` (`CAPSULES`: thigh 7 cm, shin 5, upper arm 5, forearm 4, trunk 13,
head 9 cm radius).

Output: (N, 18, 3) metres, y up, x = the person's left, z = forward of the initial facing, pelvis
at 0; rows 0-16 H36M-17, row 17 the midpoint of the eyes (what `render.py` takes as a "body").
"""

from __future__ import annotations

import numpy as np

from camerapose.core.errors import InputError
from camerapose.core.skeleton import Joint

from .render import rot
from .synthetic import BONE_MM, forward_kinematics

SIDES = ("l", "r")
LIMB = ("hip_flex", "hip_abd", "hip_twist", "knee", "sh_flex", "sh_abd", "sh_twist", "elbow")
LATERAL = ("torso_side", "torso_twist", "neck_side", "neck_twist", "root_yaw", "root_roll")
GROUND_TOL = 0.03  # m a joint may sit below the lowest support point (joint centres, not skin)
OVERLAP_TOL = 0.02  # m two capsules may interpenetrate (soft tissue, contact)
# Limb capsules: (name, start joint, end joint, radius m). The trunk runs from 20 % of the way up
# from the pelvis (so a seat on the heels is not a collision) to the thorax; 13 cm rather than a
# torso half-width of ~16 cm because it is round, and arms hang at the sides of a flat trunk.
J = Joint
EYES = 17
CAPSULES = (("trunk", J.PELVIS, J.THORAX, 0.13), ("head", J.NECK, J.HEAD, 0.09),
            ("l_thigh", J.LHIP, J.LKNEE, 0.07), ("r_thigh", J.RHIP, J.RKNEE, 0.07),
            ("l_shin", J.LKNEE, J.LFOOT, 0.05), ("r_shin", J.RKNEE, J.RFOOT, 0.05),
            ("l_upper", J.LSHOULDER, J.LELBOW, 0.05), ("r_upper", J.RSHOULDER, J.RELBOW, 0.05),
            ("l_fore", J.LELBOW, J.LWRIST, 0.04), ("r_fore", J.RELBOW, J.RWRIST, 0.04))
TRUNK_START = 0.2  # fraction of pelvis -> thorax where the trunk capsule starts
ADJACENT = {("trunk", "head"), ("trunk", "l_thigh"), ("trunk", "r_thigh"), ("trunk", "l_upper"),
            ("trunk", "r_upper"), ("l_thigh", "l_shin"), ("r_thigh", "r_shin"),
            ("l_upper", "l_fore"), ("r_upper", "r_fore")}
FEET = (J.LFOOT, J.RFOOT)
HANDS = (J.LWRIST, J.RWRIST)
KNEES = (J.LKNEE, J.RKNEE)
TRUNK = (J.PELVIS, J.LHIP, J.RHIP, J.SPINE, J.THORAX, J.LSHOULDER, J.RSHOULDER, J.HEAD)

# Gait keyframes (fraction of the cycle from heel strike, degrees); fitted to 4 Fourier terms.
WALK_HIP = ((0, .1, .2, .3, .4, .5, .55, .6, .7, .8, .87, .95),
            (30, 27, 20, 11, 2, -7, -10, -6, 10, 25, 32, 31))
WALK_KNEE = ((0, .07, .15, .25, .4, .5, .6, .7, .75, .8, .9, .97),
             (4, 12, 18, 10, 5, 12, 38, 60, 62, 55, 25, 5))
RUN_HIP = ((0, .2, .38, .45, .6, .8, .9), (35, 10, -10, -12, 20, 50, 45))
RUN_KNEE = ((0, .15, .38, .5, .7, .85, .95), (20, 42, 20, 60, 105, 60, 25))


def _fourier_fit(times: tuple, values: tuple, k: int = 4) -> np.ndarray:
    """Least-squares Fourier series through periodic keyframes. -> (2k+1,) coefficients."""
    t = np.linspace(0, 1, 200, endpoint=False)
    y = np.interp(t, np.r_[times, 1.0], np.r_[values, values[0]])
    return np.linalg.lstsq(_fourier_basis(t, k), y, rcond=None)[0]


def _fourier_basis(t: np.ndarray, k: int) -> np.ndarray:
    """(N,) phase -> (N, 2k+1) [1, cos 2pi t, sin 2pi t, ..., cos 2pi k t, sin 2pi k t]."""
    w = 2 * np.pi * np.arange(1, k + 1) * t[:, None]
    return np.concatenate([np.ones((len(t), 1)), np.cos(w), np.sin(w)], 1)


CURVES = {name: _fourier_fit(*kf) for name, kf in
          (("walk_hip", WALK_HIP), ("walk_knee", WALK_KNEE), ("run_hip", RUN_HIP), ("run_knee", RUN_KNEE))}


def _curve(name: str, phase: np.ndarray) -> np.ndarray:
    """A fitted gait curve at phase (N,) (wraps) -> (N,) degrees."""
    c = CURVES[name]
    return _fourier_basis(np.mod(phase, 1.0), (len(c) - 1) // 2) @ c


def _keys(phase: np.ndarray, times: tuple, values: list) -> np.ndarray:
    """Cosine-eased interpolation through keyframes. phase (N,) in [0, 1]; times (K,) from 0 to 1;
    values: K scalars or (N,) arrays -> (N,)."""
    t = np.asarray(times, dtype=np.float64)
    V = np.stack([np.broadcast_to(np.asarray(v, dtype=np.float64), phase.shape) for v in values], 1)
    i = np.clip(np.searchsorted(t, phase, side="right") - 1, 0, len(t) - 2)
    u = np.clip((phase - t[i]) / (t[i + 1] - t[i]), 0, 1)
    w = 0.5 - 0.5 * np.cos(np.pi * u)
    rows = np.arange(len(phase))
    return V[rows, i] * (1 - w) + V[rows, i + 1] * w


class _Draw:
    """Random numbers for one batch of N draws of one motion, and its body lengths."""

    def __init__(self, rng: np.random.Generator, n: int):
        self.rng, self.n = rng, n
        self.L = body_shape(rng, n)

    def u(self, lo: float, hi: float) -> np.ndarray:
        return self.rng.uniform(lo, hi, self.n)

    def g(self, mu: float, sd: float) -> np.ndarray:
        return mu + sd * self.rng.standard_normal(self.n)

    def pick(self, k: int, p: tuple | None = None) -> np.ndarray:
        """(N,) ints in [0, k): a style per draw."""
        return self.rng.choice(k, self.n, p=p)

    def phase(self) -> np.ndarray:
        return self.rng.random(self.n)


def body_shape(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Bone lengths (name -> (N,) m, the keys of BONE_MM) with proportions varied beyond scaling:
    height N(1.72, 0.09) m, leg/trunk ratio, arm length, shoulder and hip width, neck and head
    length; left = right."""
    height = np.clip(rng.normal(1.72, 0.09, n), 1.5, 1.98) / 1.72
    leg = 1 + np.clip(0.03 * rng.standard_normal(n), -0.07, 0.07)
    trunk = 1 - 0.6 * (leg - 1) + 0.02 * rng.standard_normal(n)  # long legs, shorter trunk
    arm = 1 + 0.4 * (leg - 1) + 0.025 * rng.standard_normal(n)
    # Hip width, neck and head vary more than a body does: where a skeleton puts its hip joints and
    # head points differs between capture systems and datasets (motion-capture hip centres sit
    # ~0.085 m from the pelvis, Human3.6M's 0.133 m), and the lifter should follow its input.
    factor = {"hip": rng.uniform(0.6, 1.15, n), "thigh": leg, "shin": leg, "spine": trunk, "chest": trunk,
              "neck": trunk * rng.uniform(0.9, 1.6, n), "head": rng.uniform(0.9, 1.6, n),
              "shoulder": rng.uniform(0.85, 1.2, n),
              "upper_arm": arm, "forearm": arm * rng.uniform(0.95, 1.08, n)}
    return {k: v / 1000 * height * factor[k] * rng.uniform(0.97, 1.03, n) for k, v in BONE_MM.items()}


# ---- joint-angle helpers --------------------------------------------------------------------

def _neutral(d: _Draw) -> dict[str, np.ndarray]:
    """A relaxed standing pose with small per-draw style variation. name -> (N,) degrees."""
    A = {"root_yaw": d.g(0, 3), "root_roll": d.g(0, 1.5), "root_pitch": d.g(0, 2),
         "torso_flex": d.g(2, 3), "torso_side": d.g(0, 2), "torso_twist": d.g(0, 3),
         "chest_flex": d.g(3, 3), "neck_flex": d.g(5, 6), "neck_side": d.g(0, 3), "neck_twist": d.g(0, 6)}
    abd, sh_abd, elbow = d.u(2, 8), d.u(9, 16), d.u(8, 25)
    for s in SIDES:
        A |= {f"{s}_hip_flex": d.g(0, 2), f"{s}_hip_abd": abd + d.g(0, 1.5), f"{s}_hip_twist": d.g(5, 5),
              f"{s}_knee": np.abs(d.g(0, 3)), f"{s}_sh_flex": d.g(0, 4), f"{s}_sh_abd": sh_abd + d.g(0, 2),
              f"{s}_sh_twist": d.g(0, 6), f"{s}_elbow": elbow + d.g(0, 4)}
    return A


def _leg(A: dict, s: str, thigh: np.ndarray, shin: np.ndarray) -> None:
    """Set side s's hip flexion and knee from world segment angles (degrees forward of hanging
    straight down; the pelvis tilt `root_pitch` must be set)."""
    A[f"{s}_hip_flex"] = thigh + A["root_pitch"]
    A[f"{s}_knee"] = thigh - shin


def _trunk(A: dict, beta: np.ndarray, tilt: np.ndarray | float = 0.5) -> None:
    """Trunk leaning forward by beta degrees in the world, the pelvis taking `tilt` of it."""
    A["root_pitch"] = tilt * beta
    A["torso_flex"] = beta - A["root_pitch"]


def _arm(A: dict, s: str, gamma: np.ndarray) -> None:
    """Side s's arm at gamma degrees forward of hanging straight down, in the world's sagittal
    plane (trunk angles must be set)."""
    A[f"{s}_sh_flex"] = gamma + A["root_pitch"] + A["torso_flex"] + A["chest_flex"]


def _both(A: dict, key: str, value: np.ndarray, d: _Draw, jitter: float = 2.0) -> None:
    """The same limb angle on both sides, each with its own small jitter."""
    for s in SIDES:
        A[f"{s}_{key}"] = value + d.g(0, jitter)


def _gaze(A: dict, d: _Draw, keep: float = 0.5) -> None:
    """The head follows the body but keeps part of the gaze level and forward."""
    lean = A["root_pitch"] + A["torso_flex"] + A["chest_flex"]
    A["neck_flex"] = A["neck_flex"] - keep * np.clip(lean, -30, 90) * d.u(0.5, 1.0)
    A["neck_twist"] = A["neck_twist"] - keep * (A["torso_twist"] + 0.5 * A["root_yaw"])


def _balance(d: _Draw, thigh: np.ndarray, shin: np.ndarray) -> np.ndarray:
    """Trunk lean (degrees) putting the centre of mass over the feet for given thigh and shin
    angles (N,): segment masses ~68 % trunk+head+arms (CoM 55 % of trunk+neck up), 20 % thighs,
    10 % shanks."""
    L = d.L
    knee_z = -L["shin"] * np.sin(np.radians(shin))
    hip_z = knee_z - L["thigh"] * np.sin(np.radians(thigh))
    arm = 0.55 * (L["spine"] + L["chest"] + L["neck"])
    s = -(0.78 * hip_z + 0.15 * knee_z) / (0.68 * arm)
    return np.degrees(np.arcsin(np.clip(s, -0.3, 0.97)))


def _guard(A: dict, d: _Draw, sides: tuple = SIDES) -> None:
    """Fists up in front of the chin (fighting guard)."""
    for s in sides:
        A |= {f"{s}_sh_flex": d.u(30, 60), f"{s}_sh_abd": d.u(10, 25), f"{s}_elbow": d.u(100, 135),
              f"{s}_sh_twist": d.g(0, 8)}


def _hands_on_hips(A: dict, d: _Draw, s: str, on: np.ndarray) -> None:
    """Side s's hand on the hip (elbow out, arm rotated in) where `on` (N,) bool."""
    vals = {"sh_abd": d.u(40, 60), "elbow": d.u(90, 115), "sh_twist": -d.u(40, 65), "sh_flex": d.g(-5, 6)}
    for k, v in vals.items():
        A[f"{s}_{k}"] = np.where(on, v, A[f"{s}_{k}"])


def _rise(phase: np.ndarray, hold: float = 1.15) -> np.ndarray:
    """Down-and-back-up depth in [0, 1] over a cycle, dwelling a little at the bottom. (N,) -> (N,)."""
    return np.clip(hold * (0.5 - 0.5 * np.cos(2 * np.pi * phase)), 0, 1)


# ---- locomotion -----------------------------------------------------------------------------

def _gait(d: _Draw, run: bool) -> dict[str, np.ndarray]:
    """Walking (0.8-1.8 m/s) or running (jog to sprint) along the whole gait cycle."""
    A = _neutral(d)
    ph, speed = d.phase(), d.u(0, 1)
    hip_c, knee_c = ("run_hip", "run_knee") if run else ("walk_hip", "walk_knee")
    mid = 15.0 if run else 10.0
    amp_h = (0.8 + 0.45 * speed if run else 0.75 + 0.4 * speed) * d.u(0.9, 1.1)
    amp_k = (0.85 + 0.4 * speed if run else 0.85 + 0.25 * speed) * d.u(0.9, 1.1)
    hip_off, knee_off = d.g(0, 3), d.g(0, 2)
    norm = {}
    for s, shift in (("r", 0.0), ("l", 0.5)):
        hip = _curve(hip_c, ph + shift)
        norm[s] = (hip - mid) / 20  # about -1 (extended) .. +1 (flexed)
        A[f"{s}_hip_flex"] = mid + amp_h * (hip - mid) + hip_off
        A[f"{s}_knee"] = np.maximum(amp_k * _curve(knee_c, ph + shift) + knee_off, 0)
    # Pelvis turns the forward leg's hip forward; the thorax counter-rotates; trunk leans with speed.
    swing = np.cos(2 * np.pi * (ph - 0.05))
    A["root_yaw"] = (4 + 4 * speed) * d.u(0.6, 1.4) * swing
    A["root_roll"] = d.u(1, 4) * np.sin(4 * np.pi * ph) + d.g(0, 1)
    A["torso_twist"] = -1.3 * A["root_yaw"] + d.g(0, 2)
    A["torso_flex"] = (4 + 10 * speed if run else 1 + 4 * speed) + d.g(0, 3)
    arm_amp = (20 + 25 * speed if run else 8 + 20 * speed) * d.u(0.6, 1.4)
    elbow0 = d.u(70, 100) if run else d.u(10, 25)
    for s, other in (("l", "r"), ("r", "l")):
        A[f"{s}_sh_flex"] = (8.0 if run else -4.0) + arm_amp * norm[other] + d.g(0, 3)
        A[f"{s}_elbow"] = elbow0 + (0.4 if run else 0.3) * arm_amp * (norm[other] + 1) / 2
        A[f"{s}_sh_abd"] = A[f"{s}_sh_abd"] + (6 if run else 0)
    _gaze(A, d, 0.6)
    return A


def _walk(d: _Draw) -> dict[str, np.ndarray]:
    return _gait(d, run=False)


def _run(d: _Draw) -> dict[str, np.ndarray]:
    return _gait(d, run=True)


# ---- lower-body exercises -------------------------------------------------------------------

def _squat(d: _Draw) -> dict[str, np.ndarray]:
    """Bodyweight squat from standing to 90-150 deg of knee flexion and back; arms forward for
    balance, clasped at the chest or hanging; the trunk lean keeps the centre of mass over the feet."""
    A = _neutral(d)
    depth = _rise(d.phase())
    thigh, shin = depth * d.u(70, 112), -depth * d.u(18, 40)
    style = d.pick(3)
    gamma = np.choose(style, [depth * d.u(60, 95), d.u(20, 40), d.u(-5, 20)])
    beta = _balance(d, thigh, shin) - np.where(style == 0, 8 * depth, 0) + d.g(0, 4)
    _trunk(A, beta, d.u(0.4, 0.7))
    for s in SIDES:
        _leg(A, s, thigh + d.g(0, 2), shin + d.g(0, 2))
        _arm(A, s, gamma + d.g(0, 3))
    _both(A, "hip_abd", d.u(4, 20), d)
    _both(A, "elbow", np.choose(style, [d.u(0, 20), d.u(100, 130), d.u(5, 25)]), d)
    _gaze(A, d)
    return A


def _lunge(d: _Draw) -> dict[str, np.ndarray]:
    """Forward lunge (right foot in front; mirrored for the left): split stance down to the back
    knee near the floor and up; hands on hips, swinging or overhead."""
    A = _neutral(d)
    depth = _rise(d.phase())
    _trunk(A, d.g(4, 5), d.u(0.3, 0.6))
    front_t = (1 - depth) * d.u(15, 28) + depth * d.u(65, 92)
    front_s = (1 - depth) * (front_t - d.u(0, 8)) + depth * d.u(-18, 5)
    back_t = (1 - depth) * -d.u(10, 22) + depth * d.u(-15, 5)
    back_s = back_t - ((1 - depth) * d.u(3, 15) + depth * d.u(80, 105))
    _leg(A, "r", front_t, front_s)
    _leg(A, "l", back_t, back_s)
    style = d.pick(3)
    for s in SIDES:
        _arm(A, s, np.where(style == 2, d.u(160, 180), d.g(0, 8)))
        _hands_on_hips(A, d, s, style == 0)
    _gaze(A, d)
    return A


def _jump(d: _Draw) -> dict[str, np.ndarray]:
    """Countermovement jump: crouch with arms back, take-off with arm swing, flight (straight or
    tucked), landing and absorbing, back to standing."""
    A = _neutral(d)
    ph = d.phase()
    tuck = d.rng.random(d.n) < 0.35
    times = (0, .25, .42, .52, .65, .8, .9, 1)
    thigh = _keys(ph, times, [0, d.u(45, 85), -d.u(0, 8), d.u(0, 20), np.where(tuck, d.u(50, 90), d.u(0, 25)),
                              d.u(10, 25), d.u(40, 80), 0])
    knee = _keys(ph, times, [3, d.u(75, 115), d.u(0, 8), d.u(5, 30),
                             np.where(tuck, d.u(90, 130), d.u(10, 40)), d.u(10, 25), d.u(60, 110), 3])
    beta = _keys(ph, times, [3, d.u(30, 50), d.u(5, 15), 5, d.u(0, 20), d.u(5, 15), d.u(25, 45), 3])
    gamma = _keys(ph, times, [0, -d.u(30, 60), d.u(100, 170), d.u(120, 180), d.u(60, 170), d.u(60, 110),
                              d.u(40, 90), 0])
    _trunk(A, beta, d.u(0.4, 0.6))
    for s in SIDES:
        _leg(A, s, thigh + d.g(0, 3), thigh - knee + d.g(0, 3))
        _arm(A, s, gamma + d.g(0, 5))
    _gaze(A, d)
    return A


def _kick(d: _Draw) -> dict[str, np.ndarray]:
    """Rear-leg kick from a fighting stance: front snap kick, side kick (trunk leaning away, hip
    abducted) or roundhouse (pivoting on the support foot); chamber, extend, re-chamber, land."""
    A = _neutral(d)
    ph, kind = d.phase(), d.pick(3)
    times = (0, .3, .5, .7, 1)
    _guard(A, d)
    stance_l, stance_r = d.u(12, 25), -d.u(5, 15)

    def by_kind(front, side, roundhouse):
        return np.choose(kind, [front, side, roundhouse])

    chamber_t = by_kind(d.u(60, 95), d.u(40, 70), d.u(50, 80))
    chamber_k = by_kind(d.u(90, 125), d.u(100, 130), d.u(110, 140))
    ext_t = by_kind(d.u(60, 105), d.u(10, 40), d.u(40, 70))
    ext_k = by_kind(d.u(0, 25), d.u(0, 20), d.u(5, 30))
    abd = by_kind(d.u(0, 10), d.u(50, 80), d.u(40, 70))
    roll = by_kind(d.g(0, 2), -d.u(20, 40), -d.u(15, 35))
    yaw = by_kind(d.g(-10, 5), -d.u(20, 40), -d.u(50, 90))
    lean = by_kind(-d.u(5, 20), d.u(0, 10), d.u(-10, 10))
    _trunk(A, _keys(ph, times, [3, 0, lean, 0, 3]), 0.5)
    A["root_roll"] = _keys(ph, times, [0, roll * 0.6, roll, roll * 0.6, 0])
    A["root_yaw"] = _keys(ph, times, [-15, yaw * 0.6, yaw, yaw * 0.6, -15])
    A["torso_side"] = -0.3 * A["root_roll"]
    t_r = _keys(ph, times, [stance_r, chamber_t, ext_t, chamber_t, stance_r])
    k_r = _keys(ph, times, [d.u(5, 20), chamber_k, ext_k, chamber_k, d.u(5, 20)])
    t_l = _keys(ph, times, [stance_l, d.u(0, 10), d.u(0, 10), d.u(0, 10), stance_l])
    k_l = _keys(ph, times, [d.u(10, 25), d.u(10, 25), d.u(5, 20), d.u(10, 25), d.u(10, 25)])
    _leg(A, "r", t_r, t_r - k_r)
    _leg(A, "l", t_l, t_l - k_l)
    A["r_hip_abd"] = _keys(ph, times, [5, abd * 0.8, abd, abd * 0.8, 5])
    A["r_hip_twist"] = _keys(ph, times, [0, -0.5 * abd, -0.7 * abd, -0.5 * abd, 0])
    A["l_hip_abd"] = 5 - A["root_roll"]  # keeps the support leg under the tilted pelvis
    _gaze(A, d, 0.7)
    return A


# ---- upper-body actions ---------------------------------------------------------------------

def _punch(d: _Draw) -> dict[str, np.ndarray]:
    """Right-hand straight punch, hook or uppercut from a guard (mirrored for the left), the trunk
    and pelvis turning into it while the other hand keeps guard."""
    A = _neutral(d)
    ph, kind = d.phase(), d.pick(3)
    times = (0, .35, .5, .8, 1)
    _guard(A, d)
    _trunk(A, np.where(kind == 2, d.u(0, 10), d.u(0, 8)), 0.5)
    for s, t, k in (("l", d.u(12, 25), d.u(10, 25)), ("r", -d.u(5, 15), d.u(5, 20))):
        _leg(A, s, t, t - k)
    hit = {"sh_flex": np.choose(kind, [d.u(75, 100), d.u(20, 50), d.u(30, 60)]),
           "sh_abd": np.choose(kind, [d.u(0, 15), d.u(75, 95), d.u(5, 20)]),
           "elbow": np.choose(kind, [d.u(0, 20), d.u(80, 100), d.u(80, 110)]),
           "sh_twist": np.choose(kind, [d.g(0, 10), -d.u(10, 40), d.g(0, 10)])}
    for k, v in hit.items():
        g = A[f"r_{k}"]
        A[f"r_{k}"] = _keys(ph, times, [g, v, v, g, g])
    twist = np.choose(kind, [d.u(15, 35), d.u(25, 45), d.u(10, 30)])
    A["torso_twist"] = _keys(ph, times, [-5, twist, twist, 0, -5])
    A["root_yaw"] = _keys(ph, times, [-15, 0.5 * twist - 10, 0.5 * twist - 10, -12, -15])
    A["r_knee"] = A["r_knee"] + np.where(kind == 2, _keys(ph, times, [0, 20, 20, 0, 0]), 0)
    _gaze(A, d, 0.8)
    return A


def _throw(d: _Draw) -> dict[str, np.ndarray]:
    """Right-handed overarm throw (mirrored for the left): wind-up, cocking with the arm back and
    externally rotated, release, follow-through across the body; stride onto the left foot."""
    A = _neutral(d)
    ph = d.phase()
    times = (0, .4, .55, .75, 1)
    arm = {"sh_flex": [d.u(-40, -10), d.u(-10, 20), d.u(100, 150), d.u(40, 80)],
           "sh_abd": [d.u(60, 90), d.u(80, 100), d.u(40, 80), d.u(0, 30)],
           "elbow": [d.u(60, 100), d.u(80, 100), d.u(10, 40), d.u(20, 50)],
           "sh_twist": [d.u(30, 60), d.u(60, 100), d.g(0, 10), -d.u(20, 50)]}
    for k, v in arm.items():
        A[f"r_{k}"] = _keys(ph, times, [*v, v[0]])
    A["l_sh_flex"] = _keys(ph, times, [d.u(60, 100), d.u(50, 90), d.u(10, 40), d.u(0, 30), d.u(60, 100)])
    A["l_elbow"] = _keys(ph, times, [d.u(10, 40), d.u(20, 50), d.u(70, 110), d.u(70, 110), d.u(10, 40)])
    A["torso_twist"] = _keys(ph, times, [-d.u(20, 40), -d.u(25, 45), d.u(15, 35), d.u(30, 50), -d.u(20, 40)])
    A["root_yaw"] = 0.5 * A["torso_twist"]
    _trunk(A, _keys(ph, times, [0, -d.u(0, 10), d.u(15, 30), d.u(25, 45), 0]), 0.5)
    stride = d.u(0.5, 1)
    l_t = stride * _keys(ph, times, [10, 25, 30, 30, 10])
    _leg(A, "l", l_t, stride * _keys(ph, times, [10, 15, 10, 5, 10]))
    r_t = stride * _keys(ph, times, [-5, -15, -20, -10, -5])
    _leg(A, "r", r_t, r_t - _keys(ph, times, [5, 10, 25, 30, 5]))
    _gaze(A, d, 0.6)
    return A


def _reach(d: _Draw) -> dict[str, np.ndarray]:
    """Reaching up (both hands or one, the trunk extending and the head looking up), forward to a
    shelf or out to the side, and back."""
    A = _neutral(d)
    depth, kind = _rise(d.phase(), 1.3), d.pick(4)
    both = (kind == 0) | (d.rng.random(d.n) < 0.2)
    beta = depth * np.choose(kind, [-d.u(0, 10), -d.u(0, 8), d.u(5, 25), d.u(-5, 5)])
    _trunk(A, beta, 0.4)
    A["torso_side"] = depth * np.where(kind == 3, -d.u(5, 20), np.where(kind == 1, -d.u(0, 12), 0))
    target = np.choose(kind, [d.u(140, 180), d.u(140, 180), d.u(70, 120), d.u(0, 30)])
    for s in SIDES:
        active = both | (s == "r")
        _arm(A, s, np.where(active, depth * target, d.g(0, 5)) + d.g(0, 4))
        A[f"{s}_sh_abd"] = A[f"{s}_sh_abd"] + np.where(active & (kind == 3), depth * d.u(60, 90), 0)
        reached = (1 - depth) * A[f"{s}_elbow"] + depth * d.u(0, 20)
        A[f"{s}_elbow"] = np.where(active, reached, A[f"{s}_elbow"])
    A["neck_flex"] = A["neck_flex"] - depth * np.where(kind < 2, d.u(10, 40), 0)
    _gaze(A, d, 0.4)
    return A


def _pick_up(d: _Draw) -> dict[str, np.ndarray]:
    """Reaching down to the floor and back up: stooping (hip hinge, knees nearly straight, arms
    hanging) or squatting (knees deep, trunk balanced, arms reaching forward-down)."""
    A = _neutral(d)
    depth, squat = _rise(d.phase(), 1.25), d.rng.random(d.n) < 0.5
    thigh = depth * np.where(squat, d.u(70, 110), d.u(-5, 8))
    knee = depth * np.where(squat, 0, d.u(0, 30))
    shin = np.where(squat, -depth * d.u(20, 40), thigh - knee)
    beta = np.where(squat, _balance(d, thigh, shin) + depth * d.u(0, 20), depth * d.u(60, 120))
    _trunk(A, beta, np.where(squat, d.u(0.4, 0.7), d.u(0.5, 0.75)))
    gamma = depth * np.where(squat, d.u(20, 60), d.u(-20, 20))
    for s in SIDES:
        _leg(A, s, thigh + d.g(0, 2), shin + d.g(0, 2))
        _arm(A, s, gamma + d.g(0, 5))
        A[f"{s}_elbow"] = (1 - depth) * A[f"{s}_elbow"] + depth * d.u(0, 25)
    _gaze(A, d, 0.4)
    return A


def _balance_pose(d: _Draw) -> dict[str, np.ndarray]:
    """Standing on the left leg (mirrored for the right): yoga tree, arabesque / warrior III,
    knee raise or side leg raise, with arms overhead, out to the sides or forward."""
    A = _neutral(d)
    hold, kind = _rise(d.phase(), 1.6), d.pick(4)
    beta = hold * np.where(kind == 1, d.u(30, 90), d.g(0, 4))
    _trunk(A, beta, d.u(0.3, 0.6))
    _leg(A, "l", d.u(-4, 8), -d.u(0, 10))
    behind = -np.minimum(beta + d.u(0, 30), 125)  # arabesque: the free leg about in line with the trunk
    free_t = np.choose(kind, [hold * d.u(30, 60), behind, hold * d.u(60, 100), hold * d.u(0, 20)])
    free_k = hold * np.choose(kind, [d.u(110, 150), d.u(0, 20), d.u(60, 120), d.u(0, 15)])
    _leg(A, "r", free_t, free_t - free_k)
    A["r_hip_abd"] = hold * np.choose(kind, [d.u(40, 70), d.u(0, 10), d.u(0, 10), d.u(30, 60)])
    A["r_hip_twist"] = hold * np.where(kind == 0, d.u(20, 50), 0)
    A["root_roll"] = hold * np.where(kind == 3, -d.u(5, 15), d.g(0, 3))
    A["l_hip_abd"] = 3 - A["root_roll"]
    arms = d.pick(3)  # overhead, out to the sides, forward in line with the trunk
    for s in SIDES:
        _arm(A, s, hold * (180 - beta) + d.g(0, 8))  # in line with the trunk (or hanging)
        A[f"{s}_sh_flex"] = np.choose(arms, [hold * d.u(160, 185), d.g(0, 8), A[f"{s}_sh_flex"]])
        A[f"{s}_sh_abd"] = np.where(arms == 1, hold * d.u(70, 100), A[f"{s}_sh_abd"])
        A[f"{s}_elbow"] = np.where(arms == 0, d.u(5, 40), d.u(0, 20))
    _gaze(A, d, 0.6)
    return A


def _bend(d: _Draw) -> dict[str, np.ndarray]:
    """Trunk bending forward, back or sideways and twisting (often combined) and back, knees
    straight or soft; hands on hips, hanging, overhead or out."""
    A = _neutral(d)
    depth, kind = _rise(d.phase(), 1.2), d.pick(4)
    beta = depth * np.choose(kind, [d.u(30, 110), -d.u(10, 30), d.u(-10, 20), d.u(-5, 30)])
    _trunk(A, beta, np.where(beta > 0, d.u(0.4, 0.7), 0.3))
    A["torso_side"] = depth * np.where(kind == 2, d.u(20, 40), d.u(0, 12)) * d.rng.choice([-1, 1], d.n)
    A["torso_twist"] = depth * np.where(kind == 3, d.u(25, 50), d.u(0, 12)) * d.rng.choice([-1, 1], d.n)
    A["root_yaw"] = 0.3 * A["torso_twist"] + d.g(0, 3)
    knee = d.u(0, 15)
    for s in SIDES:
        t = d.g(0, 3)
        _leg(A, s, t, t - knee)
    arms = d.pick(4)
    for s in SIDES:
        _arm(A, s, d.u(-15, 15))  # hanging
        A[f"{s}_sh_flex"] = np.where(arms == 2, d.u(150, 180), A[f"{s}_sh_flex"])
        A[f"{s}_sh_abd"] = np.where(arms == 3, d.u(70, 100), A[f"{s}_sh_abd"])
        _hands_on_hips(A, d, s, arms == 0)
    _gaze(A, d, 0.3)
    return A


# ---- sitting, kneeling, floor ---------------------------------------------------------------

def _seated_arms(A: dict, d: _Draw) -> None:
    """Hands on the lap, on armrests, holding a phone at the chest, or one gesturing."""
    style = d.pick(4)
    for s in SIDES:
        gamma = np.choose(style, [d.u(15, 40), d.u(-10, 15), d.u(10, 35), d.u(0, 100)])
        _arm(A, s, gamma + d.g(0, 4))
        A[f"{s}_elbow"] = np.choose(style, [d.u(45, 85), d.u(70, 100), d.u(100, 130), d.u(10, 130)])
        A[f"{s}_sh_abd"] = np.choose(style, [d.u(5, 15), d.u(15, 30), d.u(5, 20), d.u(5, 60)])


def _sit(d: _Draw) -> dict[str, np.ndarray]:
    """Sitting on a chair-height seat: thighs about horizontal, shins vertical, tucked or
    stretched, trunk upright, slumped back or leaning forward; several arm placements."""
    A = _neutral(d)
    _trunk(A, d.u(-20, 25), d.u(0.3, 0.6))
    back = d.u(0, 15)  # sitting tilts the pelvis back; the trunk keeps its lean
    A["root_pitch"], A["torso_flex"] = A["root_pitch"] - back, A["torso_flex"] + back
    thigh, shin, spread = d.u(80, 100), d.u(-25, 25), d.u(0, 20)
    for s in SIDES:
        _leg(A, s, thigh + d.g(0, 3), shin + d.g(0, 6))
        A[f"{s}_hip_abd"] = spread + d.g(0, 3)
    _seated_arms(A, d)
    A["neck_flex"] = A["neck_flex"] + d.g(8, 10)
    return A


def _stand_up(d: _Draw) -> dict[str, np.ndarray]:
    """Sit-to-stand from a chair-height seat: lean forward, seat-off, rise, stand (stand-to-sit
    is the same poses in reverse)."""
    A = _neutral(d)
    ph = d.phase()
    times = (0, .25, .45, .7, 1)
    thigh = _keys(ph, times, [d.u(82, 98), d.u(82, 98), d.u(65, 80), d.u(25, 40), 0])
    shin = _keys(ph, times, [-d.u(0, 25), -d.u(10, 25), -d.u(12, 25), -d.u(3, 12), 0])
    beta = _keys(ph, times, [d.u(-10, 10), d.u(30, 50), d.u(35, 50), d.u(15, 30), 3])
    _trunk(A, beta, 0.5)
    push = d.rng.random(d.n) < 0.4  # hands push on the thighs, or the arms swing forward
    gamma = _keys(ph, times, [d.u(15, 35), np.where(push, d.u(20, 40), d.u(40, 80)),
                              np.where(push, d.u(10, 30), d.u(40, 80)), d.u(0, 30), 0])
    for s in SIDES:
        _leg(A, s, thigh + d.g(0, 2), shin + d.g(0, 3))
        _arm(A, s, gamma + d.g(0, 4))
        A[f"{s}_elbow"] = np.where(push, d.u(20, 60), d.u(5, 30))
    _gaze(A, d, 0.5)
    return A


def _kneel(d: _Draw) -> dict[str, np.ndarray]:
    """Kneeling: tall kneel (thighs upright, shins on the floor), sitting back on the heels, or
    half-kneeling on the right knee with the left foot planted (the front shin solved so the
    foot meets the floor)."""
    A = _neutral(d)
    kind = d.pick(3)
    _trunk(A, np.choose(kind, [d.u(-5, 15), d.u(0, 30), d.u(-5, 15)]), 0.5)
    back_t = np.choose(kind, [d.u(-10, 15), d.u(58, 72), d.u(-20, 5)])
    back_s = -90 + d.g(0, 4)
    _leg(A, "r", back_t, back_s)
    # Half-kneel: the front foot meets the floor the back knee rests on.
    L, front_t = d.L, d.u(75, 100)
    c = L["thigh"] * (np.cos(np.radians(back_t)) - np.cos(np.radians(front_t))) / L["shin"]
    sign = np.where(d.rng.random(d.n) < 0.75, -1.0, 1.0)  # mostly the knee ahead of the ankle
    front_s = sign * np.degrees(np.arccos(np.clip(c, -1, 1)))
    half = kind == 2
    _leg(A, "l", np.where(half, front_t, back_t + d.g(0, 2)), np.where(half, front_s, back_s + d.g(0, 3)))
    A["l_hip_abd"] = np.where(half, d.u(0, 15), A["l_hip_abd"])
    style = d.pick(3)
    for s in SIDES:
        _arm(A, s, np.choose(style, [d.u(-5, 15), d.u(20, 50), d.u(40, 100)]) + d.g(0, 4))
        A[f"{s}_elbow"] = np.choose(style, [d.u(5, 25), d.u(50, 90), d.u(0, 30)])
    _gaze(A, d, 0.5)
    return A


def _crawl(d: _Draw) -> dict[str, np.ndarray]:
    """Hands-and-knees crawling with the diagonal pattern (left hand with right knee), or a plank /
    push-up (straight body on hands and toes, elbows bending with the upper arms going back)."""
    A = _neutral(d)
    ph, plank, L = d.phase(), d.rng.random(d.n) < 0.3, d.L
    elbow = np.where(plank, d.u(0, 1) * d.u(70, 100), d.u(0, 15))
    arm_h = L["upper_arm"] * np.cos(np.radians(0.8 * elbow)) + L["forearm"] * np.cos(np.radians(0.2 * elbow))
    trunk_len = L["spine"] + L["chest"]
    # Shoulders an arm above the floor; hips a thigh above it (knees down) or a line to the feet.
    crawl_beta = 90 - np.degrees(np.arcsin(np.clip((arm_h - L["thigh"]) / trunk_len, -0.9, 0.9)))
    plank_beta = 90 - np.degrees(np.arcsin(np.clip(arm_h / (trunk_len + L["thigh"] + L["shin"]), 0, 0.9)))
    beta = np.where(plank, plank_beta, crawl_beta) + d.g(0, 3)
    _trunk(A, beta, np.where(plank, d.u(0.95, 1.0), d.u(0.7, 0.9)))
    swing = np.cos(2 * np.pi * ph)
    amp = np.where(plank, 0, d.u(10, 20))
    for s, sign in (("r", 1.0), ("l", -1.0)):
        t = np.where(plank, -A["root_pitch"] + d.g(0, 3), sign * amp * swing + d.g(0, 3))
        lift = np.maximum(sign * swing, 0) * d.u(0, 15)  # the swinging knee lifts off the floor
        _leg(A, s, t, np.where(plank, t - d.u(0, 8), -90 + d.g(0, 4) + lift))
    for s, sign in (("l", 1.0), ("r", -1.0)):
        _arm(A, s, sign * amp * swing + d.g(0, 3) - np.where(plank, 0.8 * elbow, 0))
        A[f"{s}_elbow"] = elbow + np.abs(d.g(0, 3))
        A[f"{s}_sh_abd"] = A[f"{s}_sh_abd"] + np.where(plank, d.u(0, 20), 0)
    A["neck_flex"] = A["neck_flex"] - d.u(10, 45)  # looking ahead
    return A


def _lie(d: _Draw) -> dict[str, np.ndarray]:
    """Lying on the back (legs straight or knees up, arms at the sides, overhead, on the belly or
    out), on the front (arms at the sides, overhead or folded under the head, knees bent or not),
    or on the side (hips and knees bent, the lower arm forward or under the head)."""
    A = _neutral(d)
    kind, L = d.pick(3), d.L
    A["root_pitch"] = np.choose(kind, [-90, 90, 0]) + d.g(0, 2)
    A["root_roll"] = np.where(kind == 2, 90, 0) + d.g(0, 3)
    A["torso_flex"] = np.where(kind == 2, d.u(0, 25), d.g(0, 3))
    A["chest_flex"] = d.g(0, 3)
    A["neck_flex"] = np.choose(kind, [d.u(-5, 20), -d.u(0, 20), d.u(0, 30)])
    # On the front the face turns to one side or the head props up (the nose not in the floor).
    turned = d.rng.choice([-1.0, 1.0], d.n) * d.u(55, 90)
    A["neck_twist"] = np.where(kind == 1, np.where(d.rng.random(d.n) < 0.7, turned, 0), d.g(0, 15))
    A["neck_flex"] = np.where((kind == 1) & (A["neck_twist"] == 0), -d.u(25, 45), A["neck_flex"])
    _lie_legs(A, d, kind, L)
    _lie_arms(A, d, kind)
    return A


def _lie_legs(A: dict, d: _Draw, kind: np.ndarray, L: dict) -> None:
    """Leg angles for supine (0), prone (1) and side (2) lying."""
    for s in SIDES:
        up = d.rng.random(d.n) < 0.4  # supine: this knee up, foot flat on the floor
        e_t = d.u(30, 65)
        c = L["thigh"] * np.sin(np.radians(e_t)) / L["shin"]
        knee_up = e_t + np.degrees(np.arcsin(np.clip(c, 0, 1)))
        supine = (np.where(up, e_t, d.u(0, 8)), np.where(up, knee_up, d.u(0, 10)))
        prone = (d.u(-10, 2), np.where(d.rng.random(d.n) < 0.4, d.u(30, 100), d.u(0, 10)))
        side = (d.u(15, 80), d.u(20, 110))
        A[f"{s}_hip_flex"] = np.choose(kind, [supine[0], prone[0], side[0]])
        A[f"{s}_knee"] = np.choose(kind, [supine[1], prone[1], side[1]])
        # On the side the lower (right) leg must not spread down into the floor.
        A[f"{s}_hip_abd"] = np.where(kind == 2, -d.u(0, 6) if s == "r" else d.g(0, 4), d.u(0, 15))
        A[f"{s}_hip_twist"] = np.where(kind == 2, d.g(0, 2), A[f"{s}_hip_twist"])


def _lie_arms(A: dict, d: _Draw, kind: np.ndarray) -> None:
    """Arm angles for supine (0), prone (1) and side (2, on the right side) lying; flexion lifts
    an arm off the floor on the back and presses it into the floor on the front."""
    for s in SIDES:
        style = d.pick(4)  # at the sides, overhead, on the belly / folded under the head, out
        flat = np.abs(d.g(0, 6))
        supine = {"sh_flex": np.choose(style, [flat, d.u(160, 180), d.u(20, 45), flat]),
                  "sh_abd": np.choose(style, [d.u(5, 30), d.u(0, 20), d.u(5, 20), d.u(70, 100)]),
                  "elbow": np.choose(style, [d.u(0, 20), d.u(0, 30), d.u(90, 120), d.u(0, 20)]),
                  "sh_twist": d.g(0, 8)}
        prone = {"sh_flex": np.choose(style, [-flat, d.u(180, 195), -flat, -flat]),
                 "sh_abd": np.choose(style, [d.u(5, 30), d.u(0, 20), d.u(80, 100), d.u(70, 100)]),
                 "elbow": np.choose(style, [d.u(0, 20), d.u(0, 30), d.u(90, 130), d.u(0, 20)]),
                 "sh_twist": np.where(style == 2, d.u(75, 100), d.g(0, 8))}
        if s == "r":  # the lower arm: forward along the floor or under the head
            side = {"sh_flex": np.where(style % 2 == 1, d.u(150, 180), d.u(50, 110)),
                    "sh_abd": d.g(0, 3), "elbow": d.u(0, 60), "sh_twist": d.g(0, 3)}
        else:  # the upper arm: along the side, or in front with the hand down to the floor
            front = style >= 2
            side = {"sh_flex": np.where(front, d.u(40, 90), d.u(0, 20)),
                    "sh_abd": np.where(front, -d.u(10, 30), d.u(-5, 10)), "elbow": d.u(0, 50),
                    "sh_twist": d.g(0, 8)}
        for k in supine:
            A[f"{s}_{k}"] = np.choose(kind, [supine[k], prone[k], np.broadcast_to(side[k], (d.n,))])


def _get_up(d: _Draw) -> dict[str, np.ndarray]:
    """Getting up from lying on the back: knees up, sitting up with the hands behind, rocking
    forward into a deep squat, rising to standing."""
    A = _neutral(d)
    ph = d.phase()
    times = (0, .2, .45, .65, .85, 1)
    pelvis = _keys(ph, times, [-90, -90, -d.u(15, 35), d.u(15, 35), d.u(10, 25), 0])
    beta = _keys(ph, times, [-90, -d.u(80, 88), d.u(-10, 15), d.u(35, 55), d.u(20, 40), 3])
    hip = _keys(ph, times, [d.u(-3, 5), d.u(40, 60), d.u(80, 105), d.u(110, 130), d.u(50, 75), 0])
    knee = _keys(ph, times, [d.u(0, 10), d.u(90, 115), d.u(100, 130), d.u(120, 145), d.u(50, 80), 3])
    gamma = _keys(ph, times, [90, 90, -d.u(20, 45), d.u(30, 70), d.u(0, 30), 0])
    A["root_pitch"], A["torso_flex"] = pelvis, beta - pelvis
    for s in SIDES:
        A[f"{s}_hip_flex"] = hip + d.g(0, 3)
        A[f"{s}_knee"] = knee + d.g(0, 3)
        _arm(A, s, gamma + d.g(0, 5))
        A[f"{s}_elbow"] = _keys(ph, times, [d.u(0, 20), d.u(0, 20), d.u(0, 15), d.u(10, 40), d.u(10, 30), 15])
    A["neck_flex"] = _keys(ph, times, [d.u(0, 15), d.u(10, 30), d.u(10, 30), d.u(-20, 10), d.u(-10, 10), 5])
    return A


# ---- inversions -----------------------------------------------------------------------------

def _handstand(d: _Draw) -> dict[str, np.ndarray]:
    """Handstand: arms straight overhead onto the floor, the body balanced over the hands with
    legs together, split, straddled, tucked or arched back."""
    A = _neutral(d)
    kind = d.pick(5)
    A["root_pitch"] = 180 + d.g(0, 8)
    A["root_roll"] = d.g(0, 4)
    A["torso_flex"] = np.where(kind == 4, -d.u(10, 30), d.g(0, 6))
    A["neck_flex"] = -d.u(10, 45)  # looking at the hands
    split = d.u(40, 90)
    flex = {"l": np.choose(kind, [d.g(0, 5), split, d.g(0, 5), d.u(40, 90), -d.u(10, 30)]),
            "r": np.choose(kind, [d.g(0, 5), -0.6 * split, d.g(0, 5), d.u(40, 90), -d.u(10, 30)])}
    for s in SIDES:
        A[f"{s}_hip_flex"] = flex[s]
        A[f"{s}_hip_abd"] = np.where(kind == 2, d.u(30, 60), d.u(0, 8))
        A[f"{s}_knee"] = np.choose(kind, [d.u(0, 10), d.u(0, 10), d.u(0, 10), d.u(60, 130), d.u(40, 110)])
        A[f"{s}_sh_flex"] = d.u(165, 185)
        A[f"{s}_sh_abd"] = d.u(5, 25)
        A[f"{s}_elbow"] = d.u(0, 12)
    return A


def _cartwheel(d: _Draw) -> dict[str, np.ndarray]:
    """Cartwheel: the body wheels sideways through a full turn (roll 0-360 deg) with legs
    straddled and arms overhead, hand - hand - foot - foot on the floor."""
    A = _neutral(d)
    ph = d.phase()
    A["root_roll"] = -360 * ph + d.g(0, 5)
    A["root_pitch"], A["root_yaw"] = d.g(0, 8), d.g(0, 12)
    A["torso_side"] = d.g(0, 6)
    for s in SIDES:
        A[f"{s}_hip_abd"] = d.u(35, 60)
        A[f"{s}_hip_flex"] = d.g(0, 10)
        A[f"{s}_knee"] = d.u(0, 20)
        A[f"{s}_sh_abd"] = d.u(140, 175)
        A[f"{s}_sh_flex"] = d.g(0, 10)
        A[f"{s}_elbow"] = d.u(0, 15)
    return A


# ---- free movement --------------------------------------------------------------------------

def _dance(d: _Draw) -> dict[str, np.ndarray]:
    """Dance- and fight-like free arm movement over a standing, weight-shifting, stepping or
    bouncing base; the trunk turns and leans with the arms and the head follows."""
    base = d.pick(3)
    A = _gait(d, run=False)
    stand = _neutral(d)
    for k in A:  # standing/weight-shift and bouncing bases replace the walk's legs and pelvis
        A[k] = np.where(base == 0, A[k], stand[k])
    shift = d.g(0, 5)
    A["root_roll"] = np.where(base == 1, shift, A["root_roll"])
    bounce = d.u(10, 35)
    for s, sign in (("l", 1.0), ("r", -1.0)):
        knee = np.where(base == 2, bounce, np.maximum(sign * shift, 0) * 3 + d.u(0, 10))
        t = np.where(base == 2, 0.6 * bounce + d.g(0, 5), d.g(0, 6))
        pick = base > 0
        A[f"{s}_hip_flex"] = np.where(pick, t, A[f"{s}_hip_flex"])
        A[f"{s}_knee"] = np.where(pick, knee, A[f"{s}_knee"])
        A[f"{s}_hip_abd"] = np.where(pick, 5 - sign * shift * 0.8 + d.u(0, 15), A[f"{s}_hip_abd"])
    sym = d.rng.random(d.n) < 0.35
    arms = {k: (d.u(lo, hi), d.u(lo, hi)) for k, lo, hi in
            (("sh_flex", -40, 170), ("sh_abd", 0, 150), ("sh_twist", -60, 60), ("elbow", 0, 140))}
    for k, (a, b) in arms.items():
        A[f"l_{k}"] = a
        A[f"r_{k}"] = np.where(sym, a + d.g(0, 8), b)
    A["torso_twist"] = 0.2 * (A["r_sh_flex"] - A["l_sh_flex"]) * d.u(0, 1) + d.g(0, 10)
    A["torso_side"] = 0.1 * (A["r_sh_abd"] - A["l_sh_abd"]) * d.u(0, 1) + d.g(0, 5)
    A["torso_flex"] = A["torso_flex"] + d.g(0, 6)
    A["neck_twist"] = 0.4 * A["torso_twist"] + d.g(0, 12)
    return A


# name: (draw, support joints the ground is put under)
_LIBRARY = {
    "walk": (_walk, FEET), "run": (_run, FEET), "squat": (_squat, FEET), "lunge": (_lunge, FEET + KNEES),
    "jump": (_jump, FEET), "kick": (_kick, FEET), "punch": (_punch, FEET), "throw": (_throw, FEET),
    "reach": (_reach, FEET), "pick_up": (_pick_up, FEET + HANDS), "balance": (_balance_pose, FEET),
    "bend": (_bend, FEET + HANDS), "sit": (_sit, FEET), "stand_up": (_stand_up, FEET),
    "kneel": (_kneel, FEET + KNEES), "crawl": (_crawl, FEET + KNEES + HANDS),
    "lie": (_lie, TRUNK + FEET + HANDS),
    "get_up": (_get_up, TRUNK + FEET + KNEES + HANDS), "handstand": (_handstand, HANDS),
    "cartwheel": (_cartwheel, FEET + HANDS), "dance": (_dance, FEET),
}
MOTIONS: tuple[str, ...] = tuple(_LIBRARY)
SUPPORT: dict[str, tuple[int, ...]] = {k: tuple(int(j) for j in v[1]) for k, v in _LIBRARY.items()}


# ---- poses, mirroring, rejection ------------------------------------------------------------

def _mirror(A: dict, flip: np.ndarray) -> dict:
    """Left-right mirror image of the draws where flip (N,) is True: swap l_/r_ limbs, negate the
    lateral angles."""
    out = dict(A)
    for k in LIMB:
        out[f"l_{k}"] = np.where(flip, A[f"r_{k}"], A[f"l_{k}"])
        out[f"r_{k}"] = np.where(flip, A[f"l_{k}"], A[f"r_{k}"])
    for k in LATERAL:
        out[k] = np.where(flip, -A[k], A[k])
    return out


def _pose(A: dict, L: dict) -> np.ndarray:
    """Joint angles and bone lengths -> (N, 18, 3) m in the world frame (pelvis at 0, y up)."""
    A = dict(A)
    for s in SIDES:
        A[f"{s}_knee"] = np.clip(A[f"{s}_knee"], 0, 160)
        A[f"{s}_elbow"] = np.clip(A[f"{s}_elbow"], 0, 155)
        # The motions give sh_abd as spread away from the body; the FK's abduction turns a raised
        # arm (flexion > 90) inwards, so flip it there (at 90 both give the same arm direction).
        flex = np.mod(A[f"{s}_sh_flex"] + 180, 360) - 180
        A[f"{s}_sh_abd"] = np.where(np.abs(flex) > 90, -A[f"{s}_sh_abd"], A[f"{s}_sh_abd"])
    P = forward_kinematics(A, L)
    R = rot(1, A["root_yaw"]) @ rot(2, A["root_roll"]) @ rot(0, A["root_pitch"])
    return np.einsum("nij,nkj->nki", R, P)


def draw_motion(rng: np.random.Generator, name: str, n: int) -> np.ndarray:
    """N raw draws of one motion, before rejection. -> (N, 18, 3) m, pelvis at 0."""
    d = _Draw(rng, n)
    A = _LIBRARY[name][0](d)
    A = _mirror(A, rng.random(n) < 0.5)
    return _pose(A, d.L)


def on_ground(P: np.ndarray, support: tuple[int, ...], tol: float = GROUND_TOL) -> np.ndarray:
    """True where no joint is more than tol below the lowest support joint. (N,18,3) -> (N,)."""
    ground = P[:, list(support), 1].min(1)
    return (P[..., 1] >= ground[:, None] - tol).all(1)


def _segment_distance(p0: np.ndarray, p1: np.ndarray, q0: np.ndarray, q1: np.ndarray) -> np.ndarray:
    """Closest distance between segments p0-p1 and q0-q1, each (N, 3). -> (N,)."""
    u, v, w = p1 - p0, q1 - q0, p0 - q0
    a, b, c = (u * u).sum(1), (u * v).sum(1), (v * v).sum(1)
    e, f = (u * w).sum(1), (v * w).sum(1)
    den = a * c - b * b
    s = np.where(den > 1e-12, np.clip((b * f - c * e) / np.maximum(den, 1e-12), 0, 1), 0)
    t = np.clip((b * s + f) / np.maximum(c, 1e-12), 0, 1)
    s = np.clip((b * t - e) / np.maximum(a, 1e-12), 0, 1)
    return np.linalg.norm(w + u * s[:, None] - v * t[:, None], axis=1)


def collision_free(P: np.ndarray, tol: float = OVERLAP_TOL) -> np.ndarray:
    """True where no two non-adjacent limb capsules overlap by more than tol. (N,18,3) -> (N,)."""
    ends = {}
    for name, a, b, r in CAPSULES:
        start = P[:, a] + (TRUNK_START * (P[:, b] - P[:, a]) if name == "trunk" else 0)
        ends[name] = (start, P[:, b], r)
    ok = np.ones(len(P), dtype=bool)
    names = [c[0] for c in CAPSULES]
    for i, x in enumerate(names):
        for y in names[i + 1:]:
            if (x, y) in ADJACENT or (y, x) in ADJACENT:
                continue
            (p0, p1, r1), (q0, q1, r2) = ends[x], ends[y]
            ok &= _segment_distance(p0, p1, q0, q1) >= r1 + r2 - tol
    return ok


def _accept(P: np.ndarray, name: str) -> np.ndarray:
    """Rejection: grounded on the motion's supports, no limb overlaps, finite. (N,18,3) -> (N,) bool."""
    ok = np.isfinite(P).all((1, 2))
    return ok & on_ground(P, SUPPORT[name]) & collision_free(P)


def _draw_accepted(rng: np.random.Generator, name: str, n: int) -> tuple[np.ndarray, int]:
    """N accepted poses of one motion, pelvis at 0. -> ((N, 18, 3), number drawn)."""
    parts, have, drawn, rate = [], 0, 0, 0.7
    for _ in range(60):
        if have >= n:
            break
        m = int((n - have) / max(rate, 0.05) * 1.1) + 8
        P = draw_motion(rng, name, m)
        ok = _accept(P, name)
        parts.append(P[ok])
        have, drawn = have + int(ok.sum()), drawn + m
        rate = max(have, 1) / drawn
    else:
        raise RuntimeError(f"motion {name!r}: too many rejections")
    P = np.concatenate(parts)[:n] if parts else np.zeros((0, EYES + 1, 3))
    return P - P[:, :1], drawn


def sample_motion_poses(rng: np.random.Generator, n: int, motions: tuple[str, ...] = MOTIONS) -> np.ndarray:
    """N poses drawn from the motion library, each motion equally likely. -> (N, 18, 3) metres, y up,
    x = the person's left, z = forward, pelvis at 0, row 17 = eyes' midpoint. Deterministic for rng."""
    unknown = [m for m in motions if m not in _LIBRARY]
    if unknown or not motions:
        raise InputError(f"unknown motions {unknown}; choose from {', '.join(MOTIONS)}" if unknown
                         else "no motions to sample from")
    if n < 0:
        raise InputError(f"cannot draw {n} poses")
    which = rng.integers(0, len(motions), n)
    out = np.zeros((n, EYES + 1, 3))
    for i, name in enumerate(motions):
        idx = np.flatnonzero(which == i)
        if len(idx):
            out[idx] = _draw_accepted(rng, name, len(idx))[0]
    return out
