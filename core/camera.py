"""Pinhole camera model, projection, screen normalisation and the paper's reprojection K(X + t).

Conventions
- Camera frame: x right, y down, z forward (OpenCV); depths are positive in front of the camera.
- Extrinsics map world to camera: X_cam = R @ X_world + t.
- Distortion is OpenCV's (k1, k2, p1, p2, k3); intrinsics are in pixels.
- Screen normalisation: u_n = (2u - w)/L, v_n = (2v - h)/L with L = max(w, h), the long side
  (for a landscape frame VideoPose3D's 2u/w - 1, 2v/w - h/w). One scale for both axes keeps the
  aspect ratio, so a normalised pose is still a perspective image; the long side spans (-1, 1).

Every function whose docstring says "numpy or torch" uses only arithmetic, slicing and the
array namespace of its inputs, so training calls the very same code on torch tensors (with
gradients); `tests/core/test_camera.py` checks the two agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .rotations import quaternion_to_matrix
from .shapes import array_namespace, check_shape


@dataclass(frozen=True, eq=False)
class Camera:
    """One camera: intrinsics in pixels, optional image size, distortion and extrinsics."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int | None = None
    height: int | None = None
    dist: tuple[float, ...] = ()  # OpenCV order (k1, k2, p1, p2, k3); () = no distortion
    R: np.ndarray | None = field(default=None, repr=False)  # (3, 3) world -> camera rotation
    t: np.ndarray | None = field(default=None, repr=False)  # (3,) world -> camera translation

    def __post_init__(self) -> None:
        if not (self.fx > 0 and self.fy > 0):
            raise ValueError(f"Camera: focal lengths must be positive, got fx={self.fx} fy={self.fy}")
        if self.dist and len(self.dist) != 5:
            raise ValueError(f"Camera: dist must be (k1, k2, p1, p2, k3), got {len(self.dist)} values")
        if (self.R is None) != (self.t is None):
            raise ValueError("Camera: give both R and t, or neither")
        if self.R is not None:
            R = np.asarray(self.R, dtype=np.float64)
            t = np.asarray(self.t, dtype=np.float64).reshape(-1)
            check_shape("Camera.R", R, (3, 3))
            check_shape("Camera.t", t, (3,))
            if not np.allclose(R @ R.T, np.eye(3), atol=1e-6) or np.linalg.det(R) < 0:
                raise ValueError("Camera.R: not a rotation matrix (orthonormal, det +1)")
            R.flags.writeable = False
            t.flags.writeable = False
            object.__setattr__(self, "R", R)
            object.__setattr__(self, "t", t)

    @property
    def K(self) -> np.ndarray:
        """(3, 3) intrinsic matrix."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @property
    def focal(self) -> np.ndarray:
        """(2,) [fx, fy]."""
        return np.array([self.fx, self.fy])

    @property
    def center(self) -> np.ndarray:
        """(2,) [cx, cy]."""
        return np.array([self.cx, self.cy])

    @property
    def image_size(self) -> tuple[int, int]:
        """(width, height); raises if the camera was made without one."""
        if self.width is None or self.height is None:
            raise ValueError("Camera: no image size (width, height) was given")
        return self.width, self.height


def project(camera: Camera, X: Any) -> Any:
    """Camera-frame 3D points to pixels, with distortion. (..., J, 3) -> (..., J, 2).

    numpy or torch. Points must lie in front of the camera (z > 0).
    """
    check_shape("X", X, (..., 3))
    xy = X[..., :2] / X[..., 2:3]
    if camera.dist:
        xy = _distort(xy, camera.dist)
    return _apply_intrinsics(xy, camera)


def unproject(camera: Camera, uv: Any, depth: Any) -> Any:
    """Pixels at given depths back to camera-frame 3D. (..., J, 2), (..., J) -> (..., J, 3).

    Inverse of `project` for points in front of the camera; distortion is inverted by
    fixed-point iteration (as OpenCV's undistortPoints), exact to ~1e-9 for usual lenses.
    """
    check_shape("uv", uv, (..., 2))
    check_shape("depth", depth, tuple(uv.shape[:-1]))
    xy = (uv - _stack2(uv, camera.cx, camera.cy)) / _stack2(uv, camera.fx, camera.fy)
    if camera.dist:
        xy = _undistort(xy, camera.dist)
    xp = array_namespace(uv)
    z = depth[..., None]
    return xp.concatenate([xy * z, z], -1)


def world_to_camera(camera: Camera, X_world: np.ndarray) -> np.ndarray:
    """World points into the camera frame. (..., 3) -> (..., 3)."""
    R, t = _extrinsics(camera)
    check_shape("X_world", X_world, (..., 3))
    return X_world @ R.T + t


def camera_to_world(camera: Camera, X_cam: np.ndarray) -> np.ndarray:
    """Camera-frame points into the world frame. (..., 3) -> (..., 3)."""
    R, t = _extrinsics(camera)
    check_shape("X_cam", X_cam, (..., 3))
    return (X_cam - t) @ R


def screen_scale(width: Any, height: Any) -> Any:
    """Pixels per normalised unit x 2: the image's long side. Numbers, numpy or torch."""
    return width + (height - width) * (height > width)


def normalize_screen(uv: Any, width: Any, height: Any) -> Any:
    """Pixels to normalised screen coordinates. (..., 2) -> (..., 2); numpy or torch.

    u_n = (2u - w) / L, v_n = (2v - h) / L with L the long side: the image centre at 0, the long
    side spanning (-1, 1), one scale for both axes (a normalised pose is still a perspective image).
    A portrait frame and a landscape frame from the same lens (the same long-side field of view)
    give the same normalised focal length, so the camera branch needs not know which it sees.
    width/height: numbers, or arrays broadcastable against uv[..., :1] (e.g. (B, 1, 1)).
    """
    check_shape("uv", uv, (..., 2))
    xp = array_namespace(uv)
    s = screen_scale(width, height)
    u = uv[..., 0:1] * (2.0 / s) - width / s
    v = uv[..., 1:2] * (2.0 / s) - height / s
    return xp.concatenate([u, v], -1)


def denormalize_screen(uv_n: Any, width: Any, height: Any) -> Any:
    """Inverse of `normalize_screen`. (..., 2) -> (..., 2); numpy or torch."""
    check_shape("uv_n", uv_n, (..., 2))
    xp = array_namespace(uv_n)
    s = screen_scale(width, height)
    u = (uv_n[..., 0:1] + width / s) * (s / 2.0)
    v = (uv_n[..., 1:2] + height / s) * (s / 2.0)
    return xp.concatenate([u, v], -1)


def normalize_intrinsics(focal: Any, center: Any, width: Any, height: Any) -> tuple[Any, Any]:
    """Pixel intrinsics to the normalised screen frame. (..., 2), (..., 2) -> same shapes.

    Projecting with the returned (f_n, c_n) equals projecting in pixels then normalising,
    because normalisation is one uniform scale plus an offset. numpy or torch.
    """
    check_shape("focal", focal, (..., 2))
    check_shape("center", center, (..., 2))
    return focal * (2.0 / screen_scale(width, height)), normalize_screen(center, width, height)


def denormalize_intrinsics(focal_n: Any, center_n: Any, width: Any, height: Any) -> tuple[Any, Any]:
    """Inverse of `normalize_intrinsics`. (..., 2), (..., 2) -> same shapes; numpy or torch."""
    check_shape("focal_n", focal_n, (..., 2))
    check_shape("center_n", center_n, (..., 2))
    return focal_n * (screen_scale(width, height) / 2.0), denormalize_screen(center_n, width, height)


def reproject(X: Any, focal: Any, center: Any, t: Any) -> Any:
    """The paper's reprojection K(X + t) (Eq. 7), perspective-divided.

    X (..., J, 3) root-relative pose; focal (..., 2) [fx, fy]; center (..., 2) [cx, cy];
    t (..., 3) translation of the root in the camera frame -> (..., J, 2). numpy or torch.
    Units follow the inputs: pixel intrinsics give pixels, normalised ones normalised coords.
    """
    dims = check_shape("X", X, (..., "J", 3))
    batch = tuple(X.shape[:-2])
    check_shape("focal", focal, (*batch, 2), dims)
    check_shape("center", center, (*batch, 2), dims)
    check_shape("t", t, (*batch, 3), dims)
    Xc = X + t[..., None, :]
    return focal[..., None, :] * (Xc[..., :2] / Xc[..., 2:3]) + center[..., None, :]


def solve_translation(X: np.ndarray, uv: np.ndarray, w: np.ndarray, focal: np.ndarray,
                      center: np.ndarray) -> np.ndarray:
    """Root translation t for a known camera: u_j = fx (X_j + tx) / (Z_j + tz) + cx is linear in t,
    fx tx - (u_j - cx) tz = (u_j - cx) Z_j - fx X_j (and the same for y), so t is the weighted
    least-squares solution over the joints. Any consistent units (pixels, normalised screen).

    X (N,J,3) root-relative, uv (N,J,2), w (N,J) >= 0, focal/center (N,2) -> t (N,3).
    """
    du, dv = uv[..., 0] - center[:, None, 0], uv[..., 1] - center[:, None, 1]  # (N, J)
    fx, fy = np.broadcast_to(focal[:, None, 0], du.shape), np.broadcast_to(focal[:, None, 1], dv.shape)
    zero = np.zeros_like(du)
    A = np.concatenate([np.stack([fx, zero, -du], -1), np.stack([zero, fy, -dv], -1)], 1)  # (N, 2J, 3)
    b = np.concatenate([du * X[..., 2] - fx * X[..., 0], dv * X[..., 2] - fy * X[..., 1]], 1)  # (N, 2J)
    sw = np.sqrt(np.concatenate([w, w], 1) + 1e-6)
    A, b = A * sw[..., None], b * sw
    AtA = np.swapaxes(A, 1, 2) @ A
    Atb = (np.swapaxes(A, 1, 2) @ b[..., None])[..., 0]
    return np.linalg.solve(AtA, Atb[..., None])[..., 0]


def extrinsics_from_pose(orientation: np.ndarray, position: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World->camera (R, t) from a camera's pose in the world.

    orientation (4,) quaternion (w, x, y, z) rotating camera axes into the world; position (3,)
    the camera centre in world coordinates (Human3.6M's 'orientation' and 'translation').
    """
    check_shape("orientation", orientation, (4,))
    check_shape("position", position, (3,))
    R = quaternion_to_matrix(orientation).T
    return R, -R @ np.asarray(position, dtype=np.float64)


def _extrinsics(camera: Camera) -> tuple[np.ndarray, np.ndarray]:
    if camera.R is None or camera.t is None:
        raise ValueError("Camera: no extrinsics (R, t) were given")
    return camera.R, camera.t


def _stack2(like: Any, a: float, b: float) -> Any:
    """A length-2 array [a, b] in the namespace, dtype and device of `like`."""
    xp = array_namespace(like)
    if xp is np:
        return np.array([a, b], dtype=like.dtype if like.dtype.kind == "f" else np.float64)
    return xp.tensor([a, b], dtype=like.dtype, device=like.device)


def _apply_intrinsics(xy: Any, camera: Camera) -> Any:
    return xy * _stack2(xy, camera.fx, camera.fy) + _stack2(xy, camera.cx, camera.cy)


def _distort(xy: Any, dist: tuple[float, ...]) -> Any:
    """OpenCV radial + tangential distortion of normalised image points. (..., 2) -> (..., 2)."""
    k1, k2, p1, p2, k3 = dist
    x, y = xy[..., 0:1], xy[..., 1:2]
    r2 = x * x + y * y
    radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
    xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
    yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    return array_namespace(xy).concatenate([xd, yd], -1)


def _undistort(xy_d: Any, dist: tuple[float, ...], iterations: int = 20) -> Any:
    """Invert `_distort` by fixed-point iteration. (..., 2) -> (..., 2)."""
    k1, k2, p1, p2, k3 = dist
    xp = array_namespace(xy_d)
    xd, yd = xy_d[..., 0:1], xy_d[..., 1:2]
    x, y = xd, yd
    for _ in range(iterations):
        r2 = x * x + y * y
        radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
        dx = 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
        dy = p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
        x, y = (xd - dx) / radial, (yd - dy) / radial
    return xp.concatenate([x, y], -1)
