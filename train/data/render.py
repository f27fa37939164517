"""3D poses -> 2D-3D samples as the runtime sees them: a camera, the 2D detector's joint
definitions and its noise. Every 3D source (the joint-angle prior, the motion library, real motion
capture) goes through here, so they differ only in their poses.

Input poses: (N, 18, 3) metres in a y-up frame (x = the world's or person's left, y up, z forward),
pelvis at 0; rows 0-16 are H36M-17, row 17 is the midpoint of the eyes, which 2D detectors
(COCO, BlazePose) report in place of H36M's head top.

Cameras:
- "train": the lenses people film with (`LENSES`, by the long side's field of view, which a
  portrait and a landscape frame of one lens share): phone main cameras, webcams and camcorders
  U(55, 80) deg (half the samples), tele and zoomed lenses U(25, 55) deg (a quarter), action and
  ultra-wide cameras U(80, 115) deg (a quarter): on a 16:9 landscape frame 25-115 deg
  horizontally, on a portrait one 14-90 deg. Square pixels, principal point N(centre, 1.5 %),
  landscape and portrait sizes; handheld and tripod cameras (85 %) pitch N(0, 10 deg), raised
  and ceiling cameras (15 %) look down U(20, 50) deg; roll N(0, 3 deg); the pelvis at a depth
  log-uniform in 2-10 m at a pixel in the central 70 % of the frame.
- "eval": three real devices, each level (pitch N(0, 2 deg)) or tilted (pitch +-U(10, 30) deg):
  a phone held upright (1080x1920, 64-70 deg long-side FOV: a 26 mm-equivalent main camera), a
  webcam (1280x720, 65-78 deg horizontal), an action camera in its undistorted "linear" mode
  (1920x1080, 85-100 deg); depth U(2, 8) m.
A sample with a joint more than 5 % outside the frame or closer than 0.3 m is redrawn (`retries`
times, each with a new camera) and then dropped.

The detector-noise model (`detector_noise`): Gaussian per joint with sigma = s * bbox height,
s log-uniform in [0.004, 0.03], per-joint factors (wrists, feet, hips noisier), x1.5 for joints
behind the pelvis (self-occlusion); gross errors (2-4 % of joints, 10-35 % of the bbox away) and
left/right limb swaps (4 % of samples); pelvis, spine and thorax are then derived from hips and
shoulders as the runtime derives them from BlazePose; confidence = exp(-(e/0.04H)^2/2) with
jitter, and U(0.05, 0.45) for gross errors and swaps.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from camerapose.core.camera import reproject
from camerapose.core.rotations import elemental
from camerapose.core.skeleton import NUM_JOINTS, Joint

from .base import PoseSet, from_pixels

J = NUM_JOINTS
EYES = J  # row of the eyes' midpoint in an (N, 18, 3) pose
IMAGE_SIZES = np.array([(1920, 1080), (1280, 720), (1768, 994), (640, 480), (1440, 1080),
                        (1080, 1920), (720, 1280), (1080, 1350), (480, 640)], dtype=np.float64)
# Per-joint noise factor of a 2D detector (limb ends and hips are the hard ones).
JOINT_NOISE = np.array([1.3, 1.3, 1.0, 1.2, 1.3, 1.0, 1.2, 1.0, 0.8, 0.8, 1.0,
                        0.8, 1.1, 1.5, 0.8, 1.1, 1.5])
# The training cameras' lenses: (share of samples, long-side field of view range in degrees).
LENSES = ((0.5, (55.0, 80.0)),    # phone main camera, webcam, camcorder at its wide end
          (0.25, (25.0, 55.0)),   # phone tele lenses, zoomed camcorders, cameras far from a stage
          (0.25, (80.0, 115.0)))  # action cameras (linear mode), ultra-wide phone lenses
ELEVATED = 0.15  # share of raised and ceiling cameras, looking down U(20, 50) deg
# name: (image size w, h; long-side field of view range, degrees)
DEVICES = {"phone": ((1080, 1920), (64.0, 70.0)), "webcam": ((1280, 720), (65.0, 78.0)),
           "action cam": ((1920, 1080), (85.0, 100.0))}


def rot(axis: int, deg: np.ndarray) -> np.ndarray:
    """Rotations about x (0), y (1) or z (2) by deg. (N,) -> (N, 3, 3)."""
    return elemental(axis, np.radians(deg))


def train_cameras(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Image sizes (N,2), focal (N,2) and centre (N,2) in pixels of the training cameras (`LENSES`)."""
    size = IMAGE_SIZES[rng.integers(0, len(IMAGE_SIZES), n)]
    share = np.array([s for s, _ in LENSES])
    lens = rng.choice(len(LENSES), n, p=share / share.sum())
    lo, hi = np.array([r for _, r in LENSES]).T
    fov = np.radians(rng.uniform(lo[lens], hi[lens]))
    f = size.max(1) / 2 / np.tan(fov / 2)
    focal = np.stack([f, f * (1 + 0.003 * rng.standard_normal(n))], 1)
    center = size / 2 + 0.015 * size * rng.standard_normal((n, 2))
    return size, focal, center


def device_cameras(rng: np.random.Generator, n: int) -> tuple[np.ndarray, ...]:
    """The evaluation devices: sizes (N,2), focal (N,2), centre (N,2) pixels, device index (N,)."""
    names = list(DEVICES)
    dev = rng.integers(0, len(names), n)
    size = np.array([DEVICES[names[d]][0] for d in dev], dtype=np.float64)
    lo, hi = np.array([DEVICES[names[d]][1] for d in dev]).T
    f = size.max(1) / 2 / np.tan(np.radians(rng.uniform(lo, hi)) / 2)
    focal = np.stack([f, f], 1)
    center = size / 2 + 0.01 * size * rng.standard_normal((n, 2))
    return size, focal, center, dev


def place(rng: np.random.Generator, body: np.ndarray, size: np.ndarray, focal: np.ndarray,
          center: np.ndarray, lean: bool, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Pose the body (N,P,3) in the camera frame. -> root-relative points (N,P,3), root t (N,3).

    Any yaw about the vertical; lean=True adds a body lean N(0, 8 deg) (N(0, 25 deg) for 10 %) for
    sources whose poses are all upright; kind "train" / "eval" picks the camera pitch and depth.
    """
    n = len(body)
    if lean:
        tilt = np.where(rng.random(n) < 0.1, 25.0, 8.0)
        R_body = (rot(1, rng.uniform(-180, 180, n)) @ rot(0, tilt * rng.standard_normal(n))
                  @ rot(2, tilt * rng.standard_normal(n)))
    else:
        R_body = rot(1, rng.uniform(-180, 180, n))
    # World (x left, y up, z forward) to camera (x right, y down, z forward), then pitch and roll.
    flip = np.diag([-1.0, -1.0, 1.0])
    roll = rot(2, np.clip(3 * rng.standard_normal(n), -10, 10))
    if kind == "train":
        pitch = np.where(rng.random(n) < ELEVATED, rng.uniform(20, 50, n),
                         np.clip(10 * rng.standard_normal(n), -30, 30))
    else:
        tilted = rng.random(n) < 0.5
        pitch = np.where(tilted, rng.choice([-1.0, 1.0], n) * rng.uniform(10, 30, n),
                         2 * rng.standard_normal(n))
    R_cam = roll @ rot(0, pitch) @ flip
    kp3d = np.einsum("nij,nkj->nki", R_cam @ R_body, body)
    if kind == "train":
        depth = np.exp(rng.uniform(np.log(2.0), np.log(10.0), n))
    else:
        depth = rng.uniform(2.0, 8.0, n)
    pix = center + (rng.random((n, 2)) - 0.5) * 0.7 * size
    t = np.concatenate([(pix - center) / focal * depth[:, None], depth[:, None]], 1)
    return kp3d, t


def visible(uv: np.ndarray, Xc: np.ndarray, size: np.ndarray) -> np.ndarray:
    """True where every point is at most 5 % outside the frame and 0.3 m in front. (N,P,2) -> (N,)."""
    margin = 0.05 * size[:, None, :]
    inside = (uv > -margin) & (uv < size[:, None, :] + margin)
    return inside.all((1, 2)) & (Xc[..., 2] > 0.3).all(1)


def detector_noise(rng: np.random.Generator, uv: np.ndarray,
                   kp3d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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


def view(rng: np.random.Generator, body: np.ndarray, lean: bool, kind: str, retries: int = 0,
         ) -> tuple[np.ndarray, ...]:
    """Cameras and placement for N poses, redrawing the camera of an invisible sample `retries` times.

    body (N,18,3) -> (keep (N,) bool, kp3d (N,18,3), t (N,3), size, focal, center (N,2), uv (N,18,2)).
    """
    n = len(body)
    out = None
    todo = np.arange(n)
    for _ in range(retries + 1):
        if kind == "train":
            size, focal, center = train_cameras(rng, len(todo))
        else:
            size, focal, center, _ = device_cameras(rng, len(todo))
        kp3d, t = place(rng, body[todo], size, focal, center, lean, kind)
        uv = reproject(kp3d, focal, center, t)
        ok = visible(uv, kp3d + t[:, None], size)
        if out is None:
            out = [ok, kp3d, t, size, focal, center, uv]
        else:
            for a, b in zip(out, (ok, kp3d, t, size, focal, center, uv), strict=True):
                a[todo[ok]] = b[ok]
        todo = todo[~ok]
        if not len(todo):
            break
    return tuple(out)


def to_poseset(rng: np.random.Generator, name: str, kp3d: np.ndarray, t: np.ndarray, size: np.ndarray,
               focal: np.ndarray, center: np.ndarray, uv: np.ndarray, noise: bool) -> PoseSet:
    """Placed poses (N,18,3) and their pixels (N,18,2) -> a PoseSet whose input 2D follows the
    detector's definitions (head = eyes) and, with noise, its noise model."""
    detector_uv = uv[:, :J].copy()
    detector_uv[:, Joint.HEAD] = uv[:, EYES]
    kp3d, uv = kp3d[:, :J], uv[:, :J]
    if noise:
        noisy, conf = detector_noise(rng, detector_uv, kp3d)
    else:
        noisy, conf = detector_uv, np.ones(uv.shape[:2])
    return from_pixels(name, noisy, size, conf, uv_gt=uv, kp3d=kp3d, focal_px=focal, center_px=center, t=t)


def render(rng: np.random.Generator, body: np.ndarray, name: str, noise: bool = True, kind: str = "eval",
           lean: bool = False, retries: int = 30) -> tuple[PoseSet, np.ndarray]:
    """Every pose (N,18,3) seen by one random camera. -> (PoseSet of the kept samples, kept (N,) bool)."""
    keep, kp3d, t, size, focal, center, uv = view(rng, body, lean, kind, retries)
    sel = (kp3d[keep], t[keep], size[keep], focal[keep], center[keep], uv[keep])
    return to_poseset(rng, name, *sel, noise), keep


def draw(rng: np.random.Generator, sampler: Callable[[np.random.Generator, int], np.ndarray], n: int,
         name: str, noise: bool, lean: bool) -> PoseSet:
    """N visible samples from a pose sampler ((rng, m) -> (m,18,3)) through the training cameras;
    a pose whose camera does not see it whole is replaced by a new draw."""
    parts: list[tuple[np.ndarray, ...]] = []
    have = 0
    while have < n:
        m = int((n - have) * 1.6) + 16  # some draws are rejected (person out of frame)
        ok, *arrays = view(rng, sampler(rng, m), lean, "train")
        parts.append(tuple(a[ok] for a in arrays))
        have += int(ok.sum())
    kp3d, t, size, focal, center, uv = (np.concatenate(x)[:n] for x in zip(*parts, strict=True))
    return to_poseset(rng, name, kp3d, t, size, focal, center, uv, noise)
