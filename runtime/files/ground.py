"""Output axes: the floor under the people (a robust plane fit to their feet) and the rigid maps from
the camera frame to the axes the files are written in. Pure numpy.

An axes map is (rot (3, 3), origin (3,)): a camera-frame point X goes to rot @ (X - origin).
"""

from __future__ import annotations

import numpy as np

from camerapose.core.skeleton import Joint
from camerapose.runtime.files.kinematics import unit

# H36M's "foot" joints are the ankles, which stand about this high above the floor (about 4% of
# body height, for an adult): the floor is put this far below the plane through the ankles.
ANKLE_HEIGHT_M = 0.07
# Foot positions with less spread than this (metres, standard deviation) across the second
# direction of the plane do not fix its tilt about the first; the body's own "up" does.
MIN_SPREAD_M = 0.10
# A fitted floor may lean this far from the people's mean "up"; more is a fit to something else.
MAX_TILT_DEG = 30.0

# Camera frame (x right, y down, z forward) -> the same camera turned upright: x right, y up, z toward
# the viewer (a half-turn about x). BVH, TRC and C3D readers expect y up.
Y_UP = np.diag([1.0, -1.0, -1.0])


def body_up(kp3d: np.ndarray) -> np.ndarray:
    """The people's mean "up" in the camera frame: (N, 17, 3) poses -> unit (3,), from the mid-ankles
    to the thorax. People are upright most of the time, so this is close to minus gravity."""
    feet = (kp3d[:, Joint.RFOOT] + kp3d[:, Joint.LFOOT]) / 2
    return unit(np.nanmean(unit(kp3d[:, Joint.THORAX] - feet), axis=0))


def lowest_feet(kp3d: np.ndarray, up: np.ndarray) -> np.ndarray:
    """Per pose, the ankle lower along `up`: (N, 17, 3), (3,) -> (N, 3). The other foot may be in the air."""
    right, left = kp3d[:, Joint.RFOOT], kp3d[:, Joint.LFOOT]
    right_lower = (right @ up) <= (left @ up)
    return np.where(right_lower[:, None], right, left)


def floor_level(heights: np.ndarray, band: float = 0.10, share: float = 0.5) -> float:
    """The floor's height among foot heights (M,) metres: the lowest height with at least `share` as
    many feet within +-`band` of it as the best-supported height has. A roof or a stage someone
    walks on is a second level above it; a few stray low points do not make a level."""
    h = np.sort(heights)
    support = np.searchsorted(h, h + band, side="right") - np.searchsorted(h, h - band, side="left")
    return float(h[np.argmax(support >= share * support.max())])


def fit_plane(points: np.ndarray, up: np.ndarray, rounds: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """The floor under foot positions (M, 3): -> (unit normal (3,) on the side of `up`, a point on it (3,)).

    It starts level with `up` at `floor_level`, then is refitted `rounds` times (least squares: the
    smallest principal axis) to the points within 3 robust standard deviations (at least 2 cm) of
    it, so that feet in the air, jumps, a second level and bad frames do not tilt it. Points along
    a line (one person walking straight) or in a small patch (standing still) leave the tilt about
    that line free, and a plane tilted over MAX_TILT_DEG from `up` is not a floor people stand
    upright on: the normal is then `up` made perpendicular to the line (or `up` itself)."""
    assert points.ndim == 2 and points.shape[1] == 3 and len(points) > 0, points.shape
    up = unit(up)
    heights = points @ up
    normal, centre = up, points[0] + (floor_level(heights) - heights[0]) * up
    keep = np.abs(heights - centre @ up) <= 0.15
    for _ in range(rounds):
        p = points[keep]
        _, sd, axes = np.linalg.svd(p - p.mean(0), full_matrices=False)
        spread = sd / np.sqrt(len(p))  # standard deviation along each principal axis
        if len(p) >= 3 and spread[1] > MIN_SPREAD_M:
            normal = axes[2]
        elif len(p) >= 2 and spread[0] > MIN_SPREAD_M:  # a line: keep up, minus its part along the line
            normal = unit(up - (up @ axes[0]) * axes[0])
        else:
            normal = up
        normal = normal if normal @ up >= 0 else -normal
        if normal @ up < np.cos(np.radians(MAX_TILT_DEG)):
            normal = up
        centre = p.mean(0)
        r = (points - centre) @ normal
        mad = 1.4826 * np.median(np.abs(r[keep] - np.median(r[keep])))
        keep = np.abs(r - np.median(r[keep])) <= max(3 * mad, 0.02)
    centre = centre + np.median((points[keep] - centre) @ normal) * normal
    return normal, centre


def world_axes(kp3d: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Y-up world axes for one camera from every pose it saw: (N, 17, 3) camera-frame metres ->
    (rot (3, 3), origin (3,), floor normal (3,)).

    World: y up (the floor's normal), floor at y = 0, origin on the floor straight below the camera,
    x = the camera's x (right) laid flat on the floor, z = x cross y (toward the camera's side).
    """
    kp3d = kp3d[np.isfinite(kp3d).all(axis=(1, 2))]
    if len(kp3d) == 0:
        raise ValueError("no finite pose to fit a floor to")
    up = body_up(kp3d)
    normal, on_ankles = fit_plane(lowest_feet(kp3d, up), up)
    floor_point = on_ankles - ANKLE_HEIGHT_M * normal
    origin = -((0 - floor_point) @ normal) * normal  # the camera centre (0) dropped onto the floor
    x = unit(np.array([1.0, 0.0, 0.0]) - normal[0] * normal)
    rot = np.stack([x, normal, np.cross(x, normal)])  # rows: the world axes in camera coordinates
    return rot, origin, normal


def camera_height(origin: np.ndarray) -> float:
    """The camera's height above the floor (m) for the origin `world_axes` returned."""
    return float(np.linalg.norm(origin))


def apply_axes(points: np.ndarray, rot: np.ndarray, origin: np.ndarray) -> np.ndarray:
    """Camera-frame points (..., 3) -> the axes' coordinates (..., 3): rot @ (X - origin)."""
    return (points - origin) @ rot.T


# -- the world stream's frame (a calibration's): its up axis, and the y-up axes files are written in --
def cameras_up(cameras: list[dict]) -> np.ndarray | None:
    """The mean "up" of a world message's cameras (`cameras`: decoded, R (3, 3) world -> camera) in
    world coordinates: minus each camera's image y axis (its row R[1]), averaged; None without cameras."""
    ups = [-np.asarray(c["R"], np.float64)[1] for c in cameras]
    return unit(np.mean(ups, axis=0)) if ups else None


def up_axis(up: np.ndarray) -> tuple[int, int]:
    """The world axis nearest a direction (3,): (index 0..2, sign +1 or -1). A calibration's world
    frame is level with one axis up (Qualisys: +z), which the cameras' or the people's up is near."""
    k = int(np.argmax(np.abs(up)))
    return k, 1 if up[k] >= 0 else -1


def world_up(cameras: list[dict], kp3d: np.ndarray | None = None) -> tuple[int, int]:
    """The up axis of a world stream (`up_axis`): the cameras' mean up (`cameras_up`), else (no
    cameras) the people's (`body_up` of kp3d (N, 17, 3)), else +z."""
    up = cameras_up(cameras)
    if up is None and kp3d is not None and len(kp3d):
        up = body_up(kp3d[np.isfinite(kp3d).all(axis=(1, 2))])
    return up_axis(up) if up is not None and np.isfinite(up).all() else (2, 1)


def yup_rotation(axis: int, sign: int = 1) -> np.ndarray:
    """The rotation (3, 3) from a world frame whose up is `sign` x axis `axis` to y up: rows are the
    new X, Y, Z in old coordinates, Y = the up axis, X and Z the other two in cyclic order, so z up
    gives (X, Y, Z) = (y, z, x), as Pose2Sim writes TRC files (its zup2yup); y up gives the identity.
    A downward axis also turns X over, so it stays a rotation (determinant +1)."""
    nxt, prev = (axis + 1) % 3, (axis + 2) % 3
    e = np.eye(3)
    return np.stack([sign * e[prev], sign * e[axis], e[nxt]])


AXIS_NAMES = "xyz"


def axes_text(rot: np.ndarray) -> str:
    """A signed permutation's rows as text, e.g. "(X, Y, Z) = (y, z, x)"."""
    parts = []
    for row in rot:
        k = int(np.argmax(np.abs(row)))
        parts.append(("-" if row[k] < 0 else "") + AXIS_NAMES[k])
    return f"(X, Y, Z) = ({', '.join(parts)})"
