"""core/rotations.py: the one home of the rotation formulas."""

import numpy as np
import pytest

from camerapose.core.rotations import axis_angle, elemental, quaternion_to_matrix, rotation_vector, skew


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_an_elemental_rotation_is_rodrigues_about_that_axis(axis: int) -> None:
    angles = np.linspace(-3, 3, 7)
    np.testing.assert_allclose(elemental(axis, angles), axis_angle(np.eye(3)[axis], angles), atol=1e-12)
    np.testing.assert_array_equal(elemental("xyz"[axis].upper(), angles), elemental(axis, angles))


def test_rotations_are_proper_and_turn_the_right_way() -> None:
    R = elemental("z", np.pi / 2)
    np.testing.assert_allclose(R @ [1.0, 0, 0], [0, 1, 0], atol=1e-12)  # x to y: right-handed
    rng = np.random.default_rng(0)
    for M in (axis_angle(np.array([0.0, 0.6, 0.8]), 1.1), rotation_vector(rng.normal(size=3)),
              quaternion_to_matrix(rng.normal(size=4))):
        np.testing.assert_allclose(M @ M.T, np.eye(3), atol=1e-12)
        assert np.linalg.det(M) == pytest.approx(1.0)


def test_skew_is_the_cross_product() -> None:
    a, b = np.array([1.0, 2, 3]), np.array([-2.0, 0.5, 4])
    np.testing.assert_allclose(skew(a) @ b, np.cross(a, b))


def test_a_quaternion_and_its_rotation_vector_agree() -> None:
    half = 0.4
    q = np.array([np.cos(half), 0, np.sin(half), 0])  # 0.8 rad about y
    np.testing.assert_allclose(quaternion_to_matrix(q), rotation_vector(np.array([0, 0.8, 0])), atol=1e-12)
