"""Synthetic 2D-3D pairs: a joint-angle prior, plausible phone/webcam/action-cam cameras, and a
detector-noise model whose confidences track the error. It trains the default weights.

Pipeline (all vectorised numpy, deterministic for a seed):
1. skeleton: Human3.6M mean bone lengths (mm: hip 133, thigh 443, shin 454, spine 233 + 257,
   neck 121, head 115, shoulder 151, upper arm 279, forearm 252) scaled to a body height drawn
   from N(1.72, 0.09) m (clipped 1.5-1.98), each bone +-5 % more, left = right;
2. joint angles: every angle from a neutral value with a Gaussian spread, clipped to anatomical
   limits, and with probability 0.3 per sample drawn uniformly within the limits instead (sports
   poses live in the tails); knees and elbows only flex one way;
3. body orientation: any yaw, pitch/roll lean N(0, 8 deg) (N(0, 25 deg) for 10 % of samples);
4. camera: long-side field of view U(50, 90) deg, square pixels, principal point N(centre, 1.5 %),
   image sizes landscape and portrait; camera pitch N(0, 10 deg), roll N(0, 3 deg); the pelvis at
   a depth log-uniform in 2-10 m and at a pixel in the central 70 % of the frame; samples with a
   joint more than 5 % outside the frame or closer than 0.3 m are redrawn;
5. the 2D input follows the runtime detector's definitions: its Head is the eyes' midpoint
   (BlazePose/COCO have no head top), while the 2D labels and 3D keep H36M's head top;
6. detector noise: Gaussian per joint with sigma = s * bbox height, s log-uniform in
   [0.004, 0.03], per-joint factors (wrists, feet, hips noisier), x1.5 for joints behind the
   pelvis (self-occlusion); gross errors (2-4 % of joints, 10-35 % of the bbox away) and
   left/right limb swaps (4 % of samples); pelvis, spine and thorax are then derived from hips
   and shoulders as the runtime derives them from BlazePose; confidence = exp(-(e/0.04H)^2/2)
   with jitter, and U(0.05, 0.45) for gross errors and swaps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from camerapose.core.camera import Camera, project
from camerapose.core.skeleton import NUM_JOINTS, Joint

from .base import PoseSet, from_pixels

J = NUM_JOINTS
# Mean Human3.6M bone lengths, metres, for a 1.72 m subject.
BONE_MM = {"hip": 132.9, "thigh": 442.9, "shin": 454.2, "spine": 233.4, "chest": 257.1,
           "neck": 121.1, "head": 115.0, "shoulder": 151.0, "upper_arm": 278.9, "forearm": 251.7}
IMAGE_SIZES = np.array([(1920, 1080), (1280, 720), (1768, 994), (640, 480), (1440, 1080),
                        (1080, 1920), (720, 1280), (1080, 1350), (480, 640)], dtype=np.float64)
# Per-joint noise factor of a 2D detector (limb ends and hips are the hard ones).
JOINT_NOISE = np.array([1.3, 1.3, 1.0, 1.2, 1.3, 1.0, 1.2, 1.0, 0.8, 0.8, 1.0,
                        0.8, 1.1, 1.5, 0.8, 1.1, 1.5])

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


def _rot(axis: int, deg: np.ndarray) -> np.ndarray:
    """Rotations about x (0), y (1) or z (2) by deg. (N,) -> (N, 3, 3)."""
    a = np.radians(deg)
    c, s = np.cos(a), np.sin(a)
    R = np.zeros((len(a), 3, 3))
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    R[:, axis, axis] = 1
    R[:, i, i], R[:, i, j], R[:, j, i], R[:, j, j] = c, -s, s, c
    return R


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


def sample_poses(rng: np.random.Generator, n: int) -> np.ndarray:
    """3D poses in a body frame (x = person's left, y up, z forward), pelvis at 0. -> (N, 18, 3) m.

    Joints 0-16 are H36M-17; row 17 is the midpoint of the eyes, which 2D detectors (COCO,
    BlazePose) report in place of H36M's head top (see core.skeleton's maps).
    """
    height = np.clip(rng.normal(1.72, 0.09, n), 1.5, 1.98) / 1.72
    L = {k: v / 1000 * height * rng.uniform(0.95, 1.05, n) for k, v in BONE_MM.items()}
    A = _angles(rng, n)
    up, down = np.array([0.0, 1, 0]), np.array([0.0, -1, 0])
    P = np.zeros((n, J + 1, 3))

    def along(R: np.ndarray, d: np.ndarray, length: np.ndarray) -> np.ndarray:
        return (R @ d) * length[:, None]

    torso = _rot(1, A["torso_twist"]) @ _rot(2, A["torso_side"]) @ _rot(0, A["torso_flex"])
    chest = torso @ _rot(0, A["chest_flex"])
    neck = chest @ _rot(1, A["neck_twist"]) @ _rot(2, A["neck_side"]) @ _rot(0, A["neck_flex"])
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
        thigh = _rot(2, sign * a["hip_abd"]) @ _rot(0, -a["hip_flex"]) @ _rot(1, sign * a["hip_twist"])
        P[:, knee] = P[:, hip] + along(thigh, down, L["thigh"])
        shin = thigh @ _rot(0, a["knee"])  # the knee bends backwards
        P[:, foot] = P[:, knee] + along(shin, down, L["shin"])
        P[:, sh] = P[:, Joint.THORAX] + along(chest, np.array([sign, -0.08, 0]) / 1.003, L["shoulder"])
        arm = chest @ _rot(2, sign * a["sh_abd"]) @ _rot(0, -a["sh_flex"]) @ _rot(1, sign * a["sh_twist"])
        P[:, el] = P[:, sh] + along(arm, down, L["upper_arm"])
        fore = arm @ _rot(0, -a["elbow"])  # the elbow bends forwards
        P[:, wr] = P[:, el] + along(fore, down, L["forearm"])
    P[:, J] = P[:, Joint.NECK] + along(neck, np.array([0.0, 0.035, -0.02]), np.ones(n))
    return P


def _cameras(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Image sizes (N,2), focal (N,2) and centre (N,2) in pixels."""
    size = IMAGE_SIZES[rng.integers(0, len(IMAGE_SIZES), n)]
    fov = np.radians(rng.uniform(50, 90, n))
    f = size.max(1) / 2 / np.tan(fov / 2)
    focal = np.stack([f, f * (1 + 0.003 * rng.standard_normal(n))], 1)
    center = size / 2 + 0.015 * size * rng.standard_normal((n, 2))
    return size, focal, center


def _place(rng: np.random.Generator, body: np.ndarray, size: np.ndarray, focal: np.ndarray,
           center: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pose the body (N,P,3) in the camera frame. -> root-relative points (N,P,3), root t (N,3)."""
    n = len(body)
    lean = np.where(rng.random(n) < 0.1, 25.0, 8.0)
    R_body = (_rot(1, rng.uniform(-180, 180, n)) @ _rot(0, lean * rng.standard_normal(n))
              @ _rot(2, lean * rng.standard_normal(n)))
    # World (x left, y up, z forward) to camera (x right, y down, z forward), then pitch and roll.
    flip = np.diag([-1.0, -1.0, 1.0])
    R_cam = (_rot(2, np.clip(3 * rng.standard_normal(n), -10, 10))
             @ _rot(0, np.clip(10 * rng.standard_normal(n), -30, 30)) @ flip)
    kp3d = np.einsum("nij,nkj->nki", R_cam @ R_body, body)
    depth = np.exp(rng.uniform(np.log(2.0), np.log(10.0), n))
    pix = center + (rng.random((n, 2)) - 0.5) * 0.7 * size
    t = np.concatenate([(pix - center) / focal * depth[:, None], depth[:, None]], 1)
    return kp3d, t


def _project(kp3d: np.ndarray, t: np.ndarray, focal: np.ndarray, center: np.ndarray) -> np.ndarray:
    """Pixels of kp3d + t through per-sample pinhole cameras. -> (N,17,2)."""
    # One core.camera.project call per distinct camera would be slow; the batched formula below is
    # exactly core.camera.reproject, which the tests check against project().
    from camerapose.core.camera import reproject

    return reproject(kp3d, focal, center, t)


def _visible(uv: np.ndarray, Xc: np.ndarray, size: np.ndarray) -> np.ndarray:
    """True where every point is at most 5 % outside the frame and 0.3 m in front. (N,P,2) -> (N,)."""
    margin = 0.05 * size[:, None, :]
    inside = (uv > -margin) & (uv < size[:, None, :] + margin)
    return inside.all((1, 2)) & (Xc[..., 2] > 0.3).all(1)


def _noise(rng: np.random.Generator, uv: np.ndarray, kp3d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The detector-noise model. uv (N,17,2) pixels, kp3d (N,17,3) -> noisy uv, confidence (N,17)."""
    n = len(uv)
    bbox_h = np.maximum(np.ptp(uv[..., 1], axis=1), np.ptp(uv[..., 0], axis=1))[:, None]  # (N,1)
    level = np.exp(rng.uniform(np.log(0.004), np.log(0.03), (n, 1)))
    occluded = np.where(kp3d[..., 2] > 0.05, 1.5, 1.0)  # behind the pelvis: self-occlusion
    sigma = level * bbox_h * JOINT_NOISE * occluded
    noisy = uv + rng.standard_normal(uv.shape) * sigma[..., None]
    limb_end = np.isin(np.arange(J), [Joint.LWRIST, Joint.RWRIST, Joint.LFOOT, Joint.RFOOT])
    gross = rng.random((n, J)) < np.where(limb_end, 0.04, 0.02)
    angle = rng.uniform(0, 2 * math.pi, (n, J))
    jump = rng.uniform(0.1, 0.35, (n, J)) * bbox_h
    noisy = np.where(gross[..., None], uv + np.stack([np.cos(angle), np.sin(angle)], -1) * jump[..., None],
                     noisy)
    bad = gross.copy()
    # Left/right swaps of one limb pair (legs or arms).
    swap = rng.random(n) < 0.04
    legs = rng.random(n) < 0.5
    pairs_legs = [(Joint.LKNEE, Joint.RKNEE), (Joint.LFOOT, Joint.RFOOT)]
    pairs_arms = [(Joint.LELBOW, Joint.RELBOW), (Joint.LWRIST, Joint.RWRIST)]
    for pairs, mask in ((pairs_legs, swap & legs), (pairs_arms, swap & ~legs)):
        for a, b in pairs:
            noisy[mask, a], noisy[mask, b] = noisy[mask, b].copy(), noisy[mask, a].copy()
            bad[mask, a] = bad[mask, b] = True
    # Derived joints, as the runtime derives them from the detector's hips and shoulders.
    noisy[:, Joint.PELVIS] = noisy[:, [Joint.LHIP, Joint.RHIP]].mean(1)
    noisy[:, Joint.THORAX] = noisy[:, [Joint.LSHOULDER, Joint.RSHOULDER]].mean(1)
    noisy[:, Joint.SPINE] = noisy[:, [Joint.PELVIS, Joint.THORAX]].mean(1)
    err = np.linalg.norm(noisy - uv, axis=-1)
    conf = np.exp(-0.5 * (err / (0.04 * bbox_h)) ** 2) * rng.uniform(0.85, 1.0, (n, J))
    conf = conf + 0.03 * rng.standard_normal((n, J))
    conf = np.where(bad, rng.uniform(0.05, 0.45, (n, J)), conf)
    hips, shoulders = [Joint.LHIP, Joint.RHIP], [Joint.LSHOULDER, Joint.RSHOULDER]
    conf[:, Joint.PELVIS] = conf[:, hips].min(1)
    conf[:, Joint.THORAX] = conf[:, shoulders].min(1)
    conf[:, Joint.SPINE] = conf[:, hips + shoulders].min(1)
    return noisy, np.clip(conf, 0.01, 1.0)


def generate(spec: SyntheticSpec, name: str = "synthetic") -> PoseSet:
    """Draw `spec.n` samples. Deterministic for `spec.seed`."""
    rng = np.random.default_rng(spec.seed)
    parts: list[tuple[np.ndarray, ...]] = []
    have = 0
    while have < spec.n:
        m = int((spec.n - have) * 1.6) + 16  # some draws are rejected (person out of frame)
        body = sample_poses(rng, m)
        size, focal, center = _cameras(rng, m)
        kp3d, t = _place(rng, body, size, focal, center)
        uv = _project(kp3d, t, focal, center)
        ok = _visible(uv, kp3d + t[:, None], size)
        parts.append(tuple(a[ok] for a in (kp3d, t, size, focal, center, uv)))
        # (kp3d and uv still carry the eyes in row 17)
        have += int(ok.sum())
    kp3d, t, size, focal, center, uv = (np.concatenate(x)[: spec.n] for x in zip(*parts, strict=True))
    # The input follows the detector's definitions: its "head" is the eyes' midpoint.
    detector_uv = uv[:, :J].copy()
    detector_uv[:, Joint.HEAD] = uv[:, J]
    kp3d, uv = kp3d[:, :J], uv[:, :J]
    if spec.noise:
        noisy, conf = _noise(rng, detector_uv, kp3d)
    else:
        noisy, conf = detector_uv, np.ones(uv.shape[:2])
    return from_pixels(name, noisy, size, conf, uv_gt=uv, kp3d=kp3d, focal_px=focal, center_px=center, t=t)


def withhold_3d(poses: PoseSet) -> PoseSet:
    """The same samples as a 2D-only set (3D and camera unknown): the stand-in for MPII/COCO."""
    a = poses.arrays()
    a["kp3d"] = np.zeros_like(a["kp3d"])
    a["focal"], a["center"], a["t"] = (np.zeros_like(a[k]) for k in ("focal", "center", "t"))
    a["has_3d"] = np.zeros_like(a["has_3d"])
    a["has_camera"] = np.zeros_like(a["has_camera"])
    return PoseSet(poses.name + "-2d", **a)


def check_projection(poses: PoseSet, index: int = 0) -> float:
    """Max |core.camera.project - stored 2D| in normalised units for one sample (a self-check)."""
    w, h = poses.image_size[index].astype(np.float64)
    cam = Camera(fx=float(poses.focal[index, 0]), fy=float(poses.focal[index, 1]),
                 cx=float(poses.center[index, 0]), cy=float(poses.center[index, 1]))
    X = poses.kp3d[index].astype(np.float64) + poses.t[index]
    return float(np.abs(project(cam, X) - poses.kp2d_gt[index]).max()) if w and h else 0.0
