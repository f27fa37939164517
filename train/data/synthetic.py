"""Synthetic 2D-3D pairs from a joint-angle prior: every angle drawn on its own. Real bodies move
their joints together, so this prior now only adds coverage beside the motion library.

Pipeline (all vectorised numpy, deterministic for a seed):
1. skeleton: Human3.6M mean bone lengths (mm: hip 133, thigh 443, shin 454, spine 233 + 257,
   neck 121, head 115, shoulder 151, upper arm 279, forearm 252) scaled to a body height drawn
   from N(1.72, 0.09) m (clipped 1.5-1.98), each bone +-5 % more, left = right;
2. joint angles: every angle from a neutral value with a Gaussian spread, clipped to anatomical
   limits, and with probability 0.3 per sample drawn uniformly within the limits instead (sports
   poses live in the tails); knees and elbows only flex one way;
3. camera, placement (with a body lean: the prior's poses are all upright), the detector's joint
   definitions and its noise model: `render.py`, "train" cameras.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from camerapose.core.skeleton import NUM_JOINTS, Joint

from .base import PoseSet
from .render import draw, rot

J = NUM_JOINTS
# Mean Human3.6M bone lengths, metres, for a 1.72 m subject.
BONE_MM = {"hip": 132.9, "thigh": 442.9, "shin": 454.2, "spine": 233.4, "chest": 257.1,
           "neck": 121.1, "head": 115.0, "shoulder": 151.0, "upper_arm": 278.9, "forearm": 251.7}
# (neutral, spread, low, high) in degrees for each angle of the prior.
ANGLES = {
    "torso_flex": (5, 12, -25, 80), "torso_side": (0, 8, -35, 35), "torso_twist": (0, 12, -45, 45),
    "chest_flex": (3, 6, -15, 30),
    "neck_flex": (5, 12, -40, 50), "neck_side": (0, 8, -35, 35), "neck_twist": (0, 20, -70, 70),
    "hip_flex": (5, 25, -30, 125), "hip_abd": (5, 8, -15, 50), "hip_twist": (0, 10, -35, 35),
    "knee": (10, 25, 0, 150),
    "sh_flex": (5, 30, -60, 180), "sh_abd": (15, 20, 0, 170), "sh_twist": (0, 25, -80, 80),
    "elbow": (20, 30, 0, 150),
}


@dataclass(frozen=True)
class SyntheticSpec:
    """What to draw: n samples from `seed`; noise=False gives clean 2D with confidence 1."""

    n: int
    seed: int
    noise: bool = True


def _angles(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Draw every angle of the prior. name -> (N,) degrees; arms and legs drawn per side."""
    wild = rng.random(n) < 0.3
    out = {}
    names = [k for k in ANGLES if k.startswith(("torso", "chest", "neck"))]
    sided = [k for k in ANGLES if k not in names]
    keys = names + [f"{side}_{k}" for side in ("l", "r") for k in sided]
    for key in keys:
        neutral, spread, lo, hi = ANGLES[key.split("_", 1)[1] if key[:2] in ("l_", "r_") else key]
        a = np.clip(neutral + spread * rng.standard_normal(n), lo, hi)
        out[key] = np.where(wild, rng.uniform(lo, hi, n), a)
    return out


def body_lengths(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Bone lengths of N bodies (metres): a height from N(1.72, 0.09) m, each bone +-5 %. name -> (N,)."""
    height = np.clip(rng.normal(1.72, 0.09, n), 1.5, 1.98) / 1.72
    return {k: v / 1000 * height * rng.uniform(0.95, 1.05, n) for k, v in BONE_MM.items()}


def sample_poses(rng: np.random.Generator, n: int) -> np.ndarray:
    """N poses of the joint-angle prior in a body frame. -> (N, 18, 3) m (see `forward_kinematics`)."""
    L = body_lengths(rng, n)
    return forward_kinematics(_angles(rng, n), L)


def forward_kinematics(A: dict[str, np.ndarray], L: dict[str, np.ndarray]) -> np.ndarray:
    """Joint angles (name -> (N,) degrees, the keys of ANGLES, arms and legs as l_/r_) and bone
    lengths (name -> (N,) metres, the keys of BONE_MM) -> (N, 18, 3) metres.

    Body frame: x = the person's left, y up, z forward, pelvis at 0. Rows 0-16 are H36M-17; row 17
    is the midpoint of the eyes, which 2D detectors (COCO, BlazePose) report in place of H36M's
    head top (see core.skeleton's maps).
    """
    n = len(L["hip"])
    up, down = np.array([0.0, 1, 0]), np.array([0.0, -1, 0])
    P = np.zeros((n, J + 1, 3))

    def along(R: np.ndarray, d: np.ndarray, length: np.ndarray) -> np.ndarray:
        return (R @ d) * length[:, None]

    torso = rot(1, A["torso_twist"]) @ rot(2, A["torso_side"]) @ rot(0, A["torso_flex"])
    chest = torso @ rot(0, A["chest_flex"])
    neck = chest @ rot(1, A["neck_twist"]) @ rot(2, A["neck_side"]) @ rot(0, A["neck_flex"])
    P[:, Joint.SPINE] = along(torso, up, L["spine"])
    P[:, Joint.THORAX] = P[:, Joint.SPINE] + along(chest, up, L["chest"])
    nose_dir = np.array([0.0, 0.8, 0.6]) / 1.0  # Neck/Nose sits forward of the neck line
    P[:, Joint.NECK] = P[:, Joint.THORAX] + along(neck, nose_dir, L["neck"])
    P[:, Joint.HEAD] = P[:, Joint.NECK] + along(neck, np.array([0.0, 0.95, -0.3]) / 0.996, L["head"])
    for side, sign in (("l", 1.0), ("r", -1.0)):
        hip, knee, foot = (Joint.LHIP, Joint.LKNEE, Joint.LFOOT) if side == "l" else (
            Joint.RHIP, Joint.RKNEE, Joint.RFOOT)
        sh, el, wr = (Joint.LSHOULDER, Joint.LELBOW, Joint.LWRIST) if side == "l" else (
            Joint.RSHOULDER, Joint.RELBOW, Joint.RWRIST)
        a = {k: A[f"{side}_{k}"] for k in ("hip_flex", "hip_abd", "hip_twist", "knee", "sh_flex",
                                           "sh_abd", "sh_twist", "elbow")}
        P[:, hip] = np.array([sign, 0, 0]) * L["hip"][:, None]
        # Flexion swings a limb forward (+z): a rotation about x by -angle for a limb pointing down.
        thigh = rot(2, sign * a["hip_abd"]) @ rot(0, -a["hip_flex"]) @ rot(1, sign * a["hip_twist"])
        P[:, knee] = P[:, hip] + along(thigh, down, L["thigh"])
        shin = thigh @ rot(0, a["knee"])  # the knee bends backwards
        P[:, foot] = P[:, knee] + along(shin, down, L["shin"])
        P[:, sh] = P[:, Joint.THORAX] + along(chest, np.array([sign, -0.08, 0]) / 1.003, L["shoulder"])
        arm = chest @ rot(2, sign * a["sh_abd"]) @ rot(0, -a["sh_flex"]) @ rot(1, sign * a["sh_twist"])
        P[:, el] = P[:, sh] + along(arm, down, L["upper_arm"])
        fore = arm @ rot(0, -a["elbow"])  # the elbow bends forwards
        P[:, wr] = P[:, el] + along(fore, down, L["forearm"])
    P[:, J] = P[:, Joint.NECK] + along(neck, np.array([0.0, 0.035, -0.02]), np.ones(n))
    return P


def generate(spec: SyntheticSpec, name: str = "synthetic") -> PoseSet:
    """Draw `spec.n` samples of the joint-angle prior through the training cameras (with the body
    lean the upright prior lacks). Deterministic for `spec.seed`."""
    return draw(np.random.default_rng(spec.seed), sample_poses, spec.n, name, spec.noise, lean=True)


def withhold_3d(poses: PoseSet) -> PoseSet:
    """The same samples as a 2D-only set (3D and camera unknown): the stand-in for MPII/COCO."""
    a = poses.arrays()
    a["kp3d"] = np.zeros_like(a["kp3d"])
    a["focal"], a["center"], a["t"] = (np.zeros_like(a[k]) for k in ("focal", "center", "t"))
    a["has_3d"] = np.zeros_like(a["has_3d"])
    a["has_camera"] = np.zeros_like(a["has_camera"])
    return PoseSet(poses.name + "-2d", **a)
