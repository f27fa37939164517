"""Real video frames with a teacher's 3D, as 2D-only training samples.

Input: what `camerapose detect VIDEO --json` prints, one JSON object per frame:
    {"frame", "t", "image_size": [w, h], "persons": [{"kp2d" (17x2 px), "conf" (17),
     "kp3d_teacher" (17x3 m), ...}]}
Each person-frame with a "kp3d_teacher" pose (BlazePose's world landmarks: metric, pelvis at 0, in the
camera's orientation) becomes a 2D-only sample whose kp3d is that pose and `has_teacher` True. Its
2D label is the detection itself (real frames have no other), its camera unknown. The lifter is
pulled towards the teacher by `loss.lambda_teacher` (`losses.teacher_loss`), beside the
reprojection loss every 2D-only sample gets.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from camerapose.core.errors import InputError
from camerapose.core.skeleton import NUM_JOINTS

from .base import PoseSet, from_pixels


def resolve(path: str) -> Path:
    """A `data.teacher` entry as a path: "{cache}" becomes the asset cache directory."""
    from camerapose.assets import cache_dir

    return Path(path.replace("{cache}", str(cache_dir()))).expanduser()


def _person_rows(path: Path) -> tuple[list, list, list, list]:
    """kp2d, conf, world, image size per person-frame of one detect --json file."""
    kp, conf, world, size = [], [], [], []
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        raise InputError(f"teacher file not found: {path} (write it with `camerapose detect VIDEO --json`)"
                         ) from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a text file (expected `camerapose detect --json` output)") from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            frame = json.loads(line)
            wh = [float(v) for v in frame["image_size"]]
            for p in frame["persons"]:
                if "kp3d_teacher" in p:
                    kp.append(np.asarray(p["kp2d"], np.float64).reshape(NUM_JOINTS, 2))
                    conf.append(np.asarray(p["conf"], np.float64).reshape(NUM_JOINTS))
                    world.append(np.asarray(p["kp3d_teacher"], np.float64).reshape(NUM_JOINTS, 3))
                    size.append(wh)
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
            what = f"{type(err).__name__}: {err}"
            raise InputError(f"{path}:{n}: not a `camerapose detect --json` line ({what})") from None
    return kp, conf, world, size


def load_teacher(paths: list[str] | tuple[str, ...], repeat: int = 1) -> PoseSet:
    """Every person-frame with a teacher 3D in the files, each repeated `repeat` times. -> PoseSet."""
    if repeat < 1:
        raise InputError(f"data.teacher_repeat must be >= 1, got {repeat}")
    kp, conf, world, size = [], [], [], []
    for p in paths:
        rows = _person_rows(resolve(p))
        for acc, new in zip((kp, conf, world, size), rows, strict=True):
            acc.extend(new)
    if not kp:
        raise InputError(f"no person with a 3D pose in {', '.join(paths)} "
                         "(run detect with the BlazePose backend)")
    uv, c, w, wh = (np.repeat(np.asarray(a), repeat, axis=0) for a in (kp, conf, world, size))
    poses = from_pixels("teacher", uv, wh, np.clip(c, 0.0, 1.0))
    a = poses.arrays()
    a["kp3d"] = (w - w[:, :1]).astype(np.float32)
    a["has_teacher"] = np.ones(len(uv), dtype=bool)
    return PoseSet("teacher", **a)
