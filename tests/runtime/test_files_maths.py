"""The pure maths behind the pose files: rotations from directions, Euler angles, the BVH solve,
the floor fit, gap filling and frame times."""

from __future__ import annotations

import numpy as np
import pytest

from camerapose.core.rotations import axis_angle
from camerapose.core.skeleton import BONES, MEAN_BONE_LENGTHS, NUM_JOINTS, Joint
from camerapose.runtime.files import bvh, ground
from camerapose.runtime.files.kinematics import (
    aim,
    euler_from_matrix,
    matrix_from_euler,
    median_bone_lengths,
    swing,
    unit,
)
from camerapose.runtime.files.tracks import fill_gaps, frame_time


def random_rotations(rng: np.random.Generator, n: int) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(n, 3, 3)))
    q = q * np.sign(np.diagonal(r, axis1=-2, axis2=-1))[:, None, :]
    return q * np.linalg.det(q)[:, None, None]  # proper rotations


def angle_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Geodesic angle (degrees) between rotations (..., 3, 3)."""
    tr = np.trace(np.swapaxes(a, -1, -2) @ b, axis1=-2, axis2=-1)
    return np.degrees(np.arccos(np.clip((tr - 1) / 2, -1, 1)))


@pytest.mark.parametrize("order", ["ZXY", "ZYX"])
def test_euler_angles_give_the_rotation_back(order: str, rng: np.random.Generator) -> None:
    rot = random_rotations(rng, 200)
    angles = euler_from_matrix(rot, order)
    np.testing.assert_allclose(matrix_from_euler(angles, order), rot, atol=1e-9)
    assert (np.abs(angles[:, 1]) <= 90 + 1e-9).all()


@pytest.mark.parametrize("order", ["ZXY", "ZYX"])
def test_euler_angles_at_gimbal_lock_still_give_the_rotation_back(order: str) -> None:
    rot = matrix_from_euler(np.array([[30.0, 90.0, 20.0], [-70.0, -90.0, 45.0]]), order)
    np.testing.assert_allclose(matrix_from_euler(euler_from_matrix(rot, order), order), rot, atol=1e-9)


def test_swing_is_the_least_rotation_and_handles_opposite_vectors(rng: np.random.Generator) -> None:
    a, b = unit(rng.normal(size=(100, 3))), unit(rng.normal(size=(100, 3)))
    r = swing(a, b)
    np.testing.assert_allclose(np.einsum("nij,nj->ni", r, a), b, atol=1e-9)
    between = np.degrees(np.arccos(np.clip((a * b).sum(-1), -1, 1)))
    np.testing.assert_allclose(angle_between(np.eye(3), r), between, atol=1e-6)
    flip = swing(a, -a)
    np.testing.assert_allclose(np.einsum("nij,nj->ni", flip, a), -a, atol=1e-9)
    np.testing.assert_allclose(np.linalg.det(flip), 1.0, atol=1e-9)


def test_aim_picks_the_twist_closest_to_the_reference(rng: np.random.Generator) -> None:
    a, b = unit(rng.normal(size=(50, 3))), unit(rng.normal(size=(50, 3)))
    ref = random_rotations(rng, 50)
    r = aim(a, b, ref)
    np.testing.assert_allclose(np.einsum("nij,nj->ni", r, a), b, atol=1e-9)
    best = angle_between(ref, r)
    for twist in np.linspace(-np.pi, np.pi, 37):  # any other twist about a is farther from ref
        k = a * twist
        other = swing(a, b) @ _rotvec(k)
        assert (angle_between(ref, other) >= best - 1e-6).all()


def _rotvec(v: np.ndarray) -> np.ndarray:
    return axis_angle(unit(v), np.linalg.norm(v, axis=-1))


def bent_poses(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, 17, 3) poses with bones of mean length pointing anywhere (torso not rigid)."""
    pose = np.zeros((n, NUM_JOINTS, 3))
    pose[:, 0] = rng.normal(size=(n, 3))
    for b, (p, c) in enumerate(BONES):
        pose[:, c] = pose[:, p] + MEAN_BONE_LENGTHS[b] * unit(rng.normal(size=(n, 3)))
    return pose


def test_bvh_rotations_rebuild_any_pose_with_its_bone_lengths(rng: np.random.Generator) -> None:
    pose = bent_poses(rng, 300)
    local = bvh.solve_rotations(pose)
    back = bvh.forward_kinematics(pose[:, 0], local, bvh.offsets(np.array(MEAN_BONE_LENGTHS)))
    np.testing.assert_allclose(back, pose, atol=1e-9)
    # and through the Euler angles of the file, each joint in its own channel order
    again = np.stack([matrix_from_euler(euler_from_matrix(local[:, i], j.order), j.order)
                      for i, j in enumerate(bvh.SKELETON)], axis=1)
    np.testing.assert_allclose(again, local, atol=1e-9)


def test_bvh_rest_pose_has_every_angle_zero() -> None:
    rest = bvh.forward_kinematics(np.zeros((1, 3)), np.broadcast_to(np.eye(3), (1, len(bvh.SKELETON), 3, 3)),
                                  bvh.offsets(np.array(MEAN_BONE_LENGTHS)))
    identity = np.broadcast_to(np.eye(3), (1, 23, 3, 3))
    np.testing.assert_allclose(bvh.solve_rotations(rest), identity, atol=1e-12)


def test_bvh_twist_stays_smooth_where_a_bone_nearly_reverses() -> None:
    """The left forearm (rest: +x) swings round to 8 degrees from -x, circles -x there, and swings
    back. The least rotation from rest would spin about -x with the circle (6 degrees a frame); the
    twist kept from the previous frame moves the elbow about as little as the forearm moves, and
    unwinds smoothly on the way back."""
    rest = bvh.forward_kinematics(np.zeros((1, 3)), np.broadcast_to(np.eye(3), (1, 23, 3, 3)),
                                  bvh.offsets(np.array(MEAN_BONE_LENGTHS)))[0]
    away = np.radians(np.concatenate([np.linspace(0, 172, 60), np.full(60, 172.0), np.linspace(172, 0, 60)]))
    around = np.radians(np.concatenate([np.zeros(60), np.linspace(0, 360, 60), np.full(60, 360.0)]))
    d = np.stack([np.cos(away), np.sin(away) * np.cos(around), np.sin(away) * np.sin(around)], axis=1)
    poses = np.repeat(rest[None], len(d), axis=0)
    length = MEAN_BONE_LENGTHS[BONES.index((Joint.LELBOW, Joint.LWRIST))]
    poses[:, Joint.LWRIST] = poses[:, Joint.LELBOW] + length * d
    local = bvh.solve_rotations(poses)
    elbow = next(i for i, j in enumerate(bvh.SKELETON) if j.name == "LElbow")
    steps = angle_between(local[:-1, elbow], local[1:, elbow])
    assert steps.max() < 3.5, steps.max()  # the forearm moves 2.9 degrees a frame on the way out


def floor_points(
    rng: np.random.Generator, n: int, normal: np.ndarray, spread: tuple[float, float]
) -> np.ndarray:
    """n points on the plane through 0 with `normal`, spread (m) along two in-plane axes, 5 mm noise."""
    u = unit(np.cross(normal, [0.3, 0.2, 0.9]))
    v = np.cross(normal, u)
    return (rng.uniform(-1, 1, (n, 1)) * spread[0] * u + rng.uniform(-1, 1, (n, 1)) * spread[1] * v
            + rng.normal(0, 0.005, (n, 3)))


def test_floor_fit_ignores_feet_in_the_air_and_finds_a_tilted_floor(rng: np.random.Generator) -> None:
    normal = unit(np.array([0.1, -1.0, 0.15]))
    pts = floor_points(rng, 400, normal, (2.0, 1.5))
    pts[:80] += normal * rng.uniform(0.1, 0.5, (80, 1))  # a fifth of the feet are in the air
    got, point = ground.fit_plane(pts, np.array([0.0, -1.0, 0.0]))
    assert np.degrees(np.arccos(got @ normal)) < 1.0
    assert abs(point @ normal) < 0.01


def test_floor_fit_takes_the_lower_of_two_levels(rng: np.random.Generator) -> None:
    up = np.array([0.0, 1.0, 0.0])
    ground_pts = floor_points(rng, 150, up, (2.0, 1.0))
    roof = floor_points(rng, 200, up, (2.0, 1.0)) + 2.0 * up  # more feet up there, still not the floor
    _, point = ground.fit_plane(np.concatenate([roof, ground_pts]), up)
    assert abs(point[1]) < 0.01


def test_floor_fit_along_a_line_keeps_the_bodies_up(rng: np.random.Generator) -> None:
    """One person walking straight: the feet fix the floor's direction of travel only."""
    up = unit(np.array([0.0, 1.0, 0.1]))
    line = np.array([1.0, 0.0, 0.0])
    pts = rng.uniform(-2, 2, (100, 1)) * line + rng.normal(0, 0.005, (100, 3))
    got, _ = ground.fit_plane(pts, up)
    np.testing.assert_allclose(got, up, atol=0.01)


def test_world_axes_are_y_up_with_the_origin_under_the_camera(rng: np.random.Generator) -> None:
    base = np.zeros((200, NUM_JOINTS, 3))  # only the feet and the thorax (the body's up) matter here
    base[:, Joint.THORAX] = [0.0, -1.2, 0.0]  # camera frame: up is -y
    base[:, Joint.RFOOT] = np.c_[rng.uniform(-2, 2, 200), np.full(200, 1.5 - 0.07), rng.uniform(3, 7, 200)]
    base[:, Joint.LFOOT] = base[:, Joint.RFOOT] + [0.2, -0.1, 0.0]
    base[:, Joint.THORAX] += base[:, Joint.RFOOT]
    rot, origin, normal = ground.world_axes(base)
    np.testing.assert_allclose(normal, [0, -1, 0], atol=1e-3)
    assert ground.camera_height(origin) == pytest.approx(1.5, abs=0.01)
    world = ground.apply_axes(base[:, Joint.RFOOT], rot, origin)
    np.testing.assert_allclose(world[:, 1], 0.07, atol=0.01)
    np.testing.assert_allclose(np.linalg.det(rot), 1.0)


def test_gaps_are_filled_linearly_over_the_tracks_range() -> None:
    frames = np.array([3, 4, 8])
    values = np.array([[0.0, 10.0], [1.0, 10.0], [5.0, 30.0]])
    every, filled, seen = fill_gaps(frames, values)
    assert list(every) == [3, 4, 5, 6, 7, 8]
    assert list(seen) == [True, True, False, False, False, True]
    np.testing.assert_allclose(filled[:, 0], [0, 1, 2, 3, 4, 5])
    np.testing.assert_allclose(filled[:, 1], [10, 10, 15, 20, 25, 30])


def test_frame_time_is_the_median_step_per_frame() -> None:
    frames = np.array([0, 1, 2, 5, 6, 7])
    t = 10 + frames / 25.0
    t[2] += 0.01  # jitter on one frame
    assert frame_time(frames, t) == pytest.approx(0.04)
    assert frame_time(np.array([4]), np.array([1.0])) is None
    assert frame_time(np.array([0, 1]), np.array([1.0, 1.0])) is None


def test_median_bone_lengths_ignore_outlier_frames(rng: np.random.Generator) -> None:
    pose = bent_poses(rng, 21)
    pose[3] *= 1.5  # one bad frame
    np.testing.assert_allclose(median_bone_lengths(pose), MEAN_BONE_LENGTHS, atol=1e-9)
