"""Camera model: hand-computed projections, round trips (hypothesis), and numpy/torch agreement."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from camerapose.core.camera import (
    Camera,
    camera_to_world,
    denormalize_intrinsics,
    denormalize_screen,
    extrinsics_from_pose,
    normalize_intrinsics,
    normalize_screen,
    project,
    quaternion_to_matrix,
    reproject,
    unproject,
    world_to_camera,
)

CAM = Camera(fx=1000.0, fy=1100.0, cx=640.0, cy=360.0, width=1280, height=720)
finite = st.floats(-1.0, 1.0, allow_nan=False)


def test_projection_of_hand_computed_points():
    X = np.array([[0.0, 0.0, 2.0], [0.5, -0.25, 5.0]])
    np.testing.assert_allclose(project(CAM, X), [[640, 360], [740, 305]])


def test_unproject_returns_the_point_at_the_given_depth():
    uv = np.array([[740.0, 305.0]])
    np.testing.assert_allclose(unproject(CAM, uv, np.array([5.0])), [[0.5, -0.25, 5.0]])


def test_distortion_moves_off_centre_points_outward_and_unproject_undoes_it():
    cam = Camera(1000, 1000, 640, 360, dist=(0.1, 0.01, 0.001, -0.002, 0.0))
    X = np.array([[0.0, 0.0, 3.0], [1.0, 0.5, 3.0]])
    uv = project(cam, X)
    np.testing.assert_allclose(uv[0], [640, 360])  # the centre does not move
    ideal = project(Camera(1000, 1000, 640, 360), X)
    assert np.linalg.norm(uv[1] - [640, 360]) > np.linalg.norm(ideal[1] - [640, 360])
    np.testing.assert_allclose(unproject(cam, uv, X[:, 2]), X, atol=1e-9)


@settings(max_examples=60, deadline=None)
@given(
    xy=arrays(np.float64, (5, 2), elements=st.floats(-2, 2)),
    z=arrays(np.float64, (5,), elements=st.floats(0.5, 20)),
    k1=st.floats(-0.2, 0.2),
    p=st.floats(-0.005, 0.005),
)
def test_project_then_unproject_is_the_identity(xy, z, k1, p):
    cam = Camera(900, 950, 500, 400, dist=(k1, 0.0, p, -p, 0.0))
    X = np.concatenate([xy * z[:, None] * 0.3, z[:, None]], -1)  # within ~30 deg of the axis
    np.testing.assert_allclose(unproject(cam, project(cam, X), X[:, 2]), X, atol=1e-7, rtol=1e-7)


@settings(max_examples=60, deadline=None)
@given(uv=arrays(np.float64, (3, 7, 2), elements=st.floats(-500, 3000)),
       w=st.integers(1, 4000), h=st.integers(1, 4000))
def test_normalisation_round_trip(uv, w, h):
    np.testing.assert_allclose(denormalize_screen(normalize_screen(uv, w, h), w, h), uv, atol=1e-8)


def test_normalisation_maps_the_frame_edges_as_documented():
    corners = np.array([[0, 0], [1280, 720], [640, 360]], dtype=float)
    np.testing.assert_allclose(normalize_screen(corners, 1280, 720),
                               [[-1, -0.5625], [1, 0.5625], [0, 0]])


def test_a_portrait_frame_is_scaled_by_its_long_side_like_a_landscape_one():
    corners = np.array([[0, 0], [720, 1280], [360, 640]], dtype=float)
    np.testing.assert_allclose(normalize_screen(corners, 720, 1280), [[-0.5625, -1], [0.5625, 1], [0, 0]])
    # one lens, turned: the same normalised focal length (the camera branch needs not know which)
    landscape, _ = normalize_intrinsics(np.array([1000.0, 1000.0]), np.array([640.0, 360.0]), 1280, 720)
    portrait, _ = normalize_intrinsics(np.array([1000.0, 1000.0]), np.array([360.0, 640.0]), 720, 1280)
    np.testing.assert_array_equal(landscape, portrait)


def test_per_sample_image_sizes_broadcast():
    uv = np.full((2, 17, 2), 100.0)
    w, h = np.array([200.0, 400.0])[:, None, None], np.array([100.0, 400.0])[:, None, None]
    out = normalize_screen(uv, w, h)
    np.testing.assert_allclose(out[0, 0], [0, 0.5])
    np.testing.assert_allclose(out[1, 0], [-0.5, -0.5])


def test_normalised_intrinsics_project_to_normalised_pixels():
    X = np.random.default_rng(3).uniform([-1, -1, 2], [1, 1, 6], size=(17, 3))
    f_n, c_n = normalize_intrinsics(CAM.focal, CAM.center, 1280, 720)
    root = X[0]
    uv_n = reproject(X - root, f_n, c_n, root)
    np.testing.assert_allclose(uv_n, normalize_screen(project(CAM, X), 1280, 720), atol=1e-12)
    f, c = denormalize_intrinsics(f_n, c_n, 1280, 720)
    np.testing.assert_allclose(np.concatenate([f, c]), [1000, 1100, 640, 360])


def test_reproject_is_k_times_x_plus_t():
    X = np.array([[[0.0, 0.0, 0.0], [0.1, 0.2, 0.0]]])  # one sample, two joints
    f, c, t = np.array([[500.0, 400.0]]), np.array([[320.0, 240.0]]), np.array([[0.0, 0.0, 2.0]])
    np.testing.assert_allclose(reproject(X, f, c, t), [[[320, 240], [345, 280]]])


def test_reproject_checks_that_batch_shapes_agree():
    with pytest.raises(ValueError, match=r"t: expected shape \(4, 3\)"):
        reproject(np.zeros((4, 17, 3)), np.ones((4, 2)), np.ones((4, 2)), np.ones((3, 3)))


def test_world_camera_round_trip_and_h36m_style_extrinsics():
    q = np.array([np.cos(0.3), 0.2, np.sin(0.3), 0.1])
    position = np.array([1.0, -2.0, 1.5])
    R, t = extrinsics_from_pose(q, position)
    cam = Camera(1000, 1000, 500, 500, R=R, t=t)
    np.testing.assert_allclose(world_to_camera(cam, position), [0, 0, 0], atol=1e-12)
    Xw = np.random.default_rng(1).normal(size=(10, 3))
    np.testing.assert_allclose(camera_to_world(cam, world_to_camera(cam, Xw)), Xw, atol=1e-12)


def test_quaternion_of_a_quarter_turn_about_z():
    q = np.array([np.cos(np.pi / 4), 0, 0, np.sin(np.pi / 4)])
    np.testing.assert_allclose(quaternion_to_matrix(q) @ [1, 0, 0], [0, 1, 0], atol=1e-12)


def test_camera_rejects_bad_parameters_with_clear_messages():
    with pytest.raises(ValueError, match="focal lengths must be positive"):
        Camera(0, 1, 0, 0)
    with pytest.raises(ValueError, match="dist must be"):
        Camera(1, 1, 0, 0, dist=(0.1,))
    with pytest.raises(ValueError, match="not a rotation"):
        Camera(1, 1, 0, 0, R=np.diag([1.0, 1.0, -1.0]), t=np.zeros(3))
    with pytest.raises(ValueError, match="no extrinsics"):
        world_to_camera(CAM, np.zeros(3))
    with pytest.raises(ValueError, match=r"X: expected shape \(\.\.\., 3\)"):
        project(CAM, np.zeros((17, 2)))


class TestTorchTwin:
    """The same functions on torch tensors give the numpy results, and carry gradients."""

    torch = pytest.importorskip("torch")

    def test_reproject_and_normalisation_agree_with_numpy(self):
        torch = self.torch
        rng = np.random.default_rng(7)
        X = rng.normal(scale=0.3, size=(8, 17, 3))
        f, c = rng.uniform(1, 3, (8, 2)), rng.uniform(-0.2, 0.2, (8, 2))
        t = np.concatenate([rng.normal(size=(8, 2)), rng.uniform(3, 8, (8, 1))], -1)
        ref = reproject(X, f, c, t)
        out = reproject(*(torch.from_numpy(a) for a in (X, f, c, t)))
        assert isinstance(out, torch.Tensor)
        np.testing.assert_allclose(out.numpy(), ref, atol=1e-12)
        uv = rng.uniform(0, 1000, (8, 17, 2))
        np.testing.assert_allclose(normalize_screen(torch.from_numpy(uv), 1000, 600).numpy(),
                                   normalize_screen(uv, 1000, 600), atol=1e-12)
        np.testing.assert_allclose(project(CAM, torch.from_numpy(X + [0, 0, 5])).numpy(),
                                   project(CAM, X + [0, 0, 5]), atol=1e-9)

    def test_gradients_flow_to_pose_intrinsics_and_translation(self):
        torch = self.torch
        X = torch.randn(2, 17, 3, requires_grad=True)
        f = torch.full((2, 2), 2.0, requires_grad=True)
        c = torch.zeros(2, 2, requires_grad=True)
        t = torch.tensor([[0.0, 0.0, 5.0]] * 2, requires_grad=True)
        reproject(X, f, c, t).square().sum().backward()
        assert all(g is not None and torch.isfinite(g).all() for g in (X.grad, f.grad, c.grad, t.grad))

    def test_float32_tensors_stay_float32(self):
        torch = self.torch
        uv = torch.rand(3, 17, 2)
        assert project(CAM, torch.rand(3, 17, 3) + 1).dtype == torch.float32
        assert normalize_screen(uv, 640, 480).dtype == torch.float32
