"""Real motion capture as test and training sets (the clips: `mocap.py`).

Test ("mocap"): every frame of the validation clips at 30 Hz (every 4th frame of a 120 Hz clip, every
2nd of a 60 Hz one: neighbours closer in time are near-duplicates and would only weight the long
clips up), each seen by `cameras_per_frame` of the evaluation
devices (phone upright, webcam, action cam; 2-8 m; level or tilted: `render.py`), with the
detector's joint definitions and noise model, as the runtime would feed the lifter. Besides the
whole set, one subset per clip group ("mocap/walk/run", ...).

Train ("mocap-train" share of a mix): frames of the clips that may train (their licence allows it),
each drawn at random, mirrored half of the time, with its bone lengths scaled by a random body
height, through the training cameras with wide-angle lenses included.
"""

from __future__ import annotations

import numpy as np

from camerapose.core.skeleton import MIRROR, NUM_JOINTS, Joint

from .base import PoseSet
from .render import draw, render

TEST_FPS = 30.0


def at_fps(clip: object, fps: float) -> np.ndarray:
    """The clip's frames at about `fps` (every k-th frame, k = round(clip fps / fps) >= 1). -> (T', 18, 3)."""
    return clip.joints[:: max(1, round(clip.fps / fps))]


def centre(poses: np.ndarray) -> np.ndarray:
    """Pelvis at 0. (N,18,3) -> (N,18,3)."""
    return poses - poses[:, Joint.PELVIS : Joint.PELVIS + 1]


def mirror(poses: np.ndarray) -> np.ndarray:
    """Left-right mirror image of y-up poses: negate x, swap left and right joints. (N,18,3)."""
    out = poses.copy()
    out[:, :NUM_JOINTS] = poses[:, list(MIRROR)]
    out[..., 0] *= -1
    return out


def test_sets(clips: list, seed: int, cameras_per_frame: int = 3, noise: bool = True) -> dict[str, PoseSet]:
    """{"mocap": all validation frames, "mocap/<group>": each clip group}; deterministic for seed."""
    rng = np.random.default_rng(seed)
    bodies, groups = [], []
    for clip in clips:
        frames = centre(at_fps(clip, TEST_FPS))
        bodies.append(np.repeat(frames, cameras_per_frame, axis=0))
        groups += [clip.group] * (len(frames) * cameras_per_frame)
    body = np.concatenate(bodies)
    poses, keep = render(rng, body, "mocap", noise=noise, kind="eval")
    group = np.asarray(groups)[keep]
    out = {"mocap": poses}
    for g in sorted(set(group.tolist())):
        out[f"mocap/{g}"] = PoseSet(f"mocap/{g}", **{k: v[group == g] for k, v in poses.arrays().items()})
    return out


def train_sampler(clips: list) -> object:
    """A pose sampler ((rng, m) -> (m,18,3)) over the frames of `clips`: random frame, mirrored half
    of the time, scaled by a body height factor N(1, 0.05) clipped to +-12 %."""
    frames = np.concatenate([centre(c.joints) for c in clips])

    def sample(rng: np.random.Generator, m: int) -> np.ndarray:
        pick = frames[rng.integers(0, len(frames), m)]
        flip = rng.random(m) < 0.5
        pick = np.where(flip[:, None, None], mirror(pick), pick)
        scale = np.clip(rng.normal(1.0, 0.05, m), 0.88, 1.12)
        return pick * scale[:, None, None]

    return sample


def train_set(clips: list, n: int, seed: int, noise: bool = True) -> PoseSet:
    """n samples of the trainable clips through the training cameras (no extra lean: real poses)."""
    return draw(np.random.default_rng(seed), train_sampler(clips), n, "mocap-train", noise, lean=False)

