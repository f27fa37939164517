"""Rotated ROI geometry and the batched warp: known rotations and an affine round trip."""

from __future__ import annotations

import math

import numpy as np
import pytest

from camerapose.runtime.detect import roi
from camerapose.runtime.detect.ssd import iou


def invert_affine(m: np.ndarray) -> np.ndarray:
    """Inverse of 2x3 affine maps (the check's own, not the product's). (N, 2, 3) -> (N, 2, 3)."""
    lin = np.linalg.inv(m[:, :, :2])
    return np.concatenate([lin, -lin @ m[:, :, 2:]], -1)


def test_roi_from_alignment_is_upright_for_a_standing_person() -> None:
    r = roi.roi_from_alignment(np.array([[100.0, 200.0]]), np.array([[100.0, 100.0]]), enlarge=1.25)
    assert np.allclose(r[0], [100, 200, 250, 250, 0])  # side = 2 * radius * 1.25


@pytest.mark.parametrize(("dx", "dy", "angle"), [(1, 0, 90), (0, 1, 180), (-1, 0, -90), (1, -1, 45)])
def test_roi_rotation_points_the_crop_up_at_the_scale_point(dx: float, dy: float, angle: float) -> None:
    r = roi.roi_from_alignment(np.array([[0.0, 0.0]]), np.array([[dx * 10.0, dy * 10.0]]))
    got = math.degrees(float(r[0, 4]))
    half_step = math.degrees(roi.ROI_GRID_RAD) / 2  # the angle is snapped to its grid
    assert math.isclose((got - angle + 180) % 360 - 180, 0, abs_tol=half_step + 1e-4)
    # The crop's top centre maps onto the ray from the centre through the scale point.
    top = roi.apply_affine(roi.crop_to_frame(r, 256), np.array([[[128.0, 0.0]]]))[0, 0]
    direction = np.array([dx, dy]) / np.hypot(dx, dy)
    assert np.allclose(top / np.linalg.norm(top), direction, atol=roi.ROI_GRID_RAD)


def test_roi_from_alignment_snaps_to_its_grid_so_tiny_differences_give_the_same_crop() -> None:
    # Two runtimes' landmarks differ by ~1e-4 px; the ROI they give must not.
    center, top = np.array([[412.3, 318.7]]), np.array([[431.9, 102.2]])
    a = roi.roi_from_alignment(center, top)
    b = roi.roi_from_alignment(center + 2e-4, top - 2e-4)
    assert np.array_equal(a, b)
    assert np.allclose(a[0, :4] / roi.ROI_GRID_PX, np.round(a[0, :4] / roi.ROI_GRID_PX))
    # ... and it stays where the alignment points say, within half a grid step.
    side = 2 * np.hypot(*(top - center)[0]) * 1.25
    assert np.allclose(a[0, :4], [412.3, 318.7, side, side], atol=roi.ROI_GRID_PX / 2 + 1e-3)


def test_crop_corners_of_an_upright_roi() -> None:
    c = roi.roi_corners(np.array([[50.0, 40.0, 20.0, 10.0, 0.0]]))[0]
    assert np.allclose(c, [[40, 35], [60, 35], [60, 45], [40, 45]])
    assert np.allclose(
        roi.roi_box(np.array([[0, 0, 2, 2, math.pi / 4]])),
        [[-math.sqrt(2), -math.sqrt(2), math.sqrt(2), math.sqrt(2)]],
        atol=1e-5,
    )


def test_affine_round_trip(rng: np.random.Generator) -> None:
    rois = np.column_stack(
        [rng.uniform(0, 500, (5, 2)), rng.uniform(50, 300, (5, 2)), rng.uniform(-math.pi, math.pi, 5)]
    ).astype(np.float32)
    m = roi.crop_to_frame(rois, 256)
    pts = rng.uniform(0, 256, (5, 9, 2))
    back = roi.apply_affine(invert_affine(m), roi.apply_affine(m, pts))
    assert np.allclose(back, pts, atol=1e-6)


def test_batched_warp_samples_the_frame_where_the_affine_says(rng: np.random.Generator) -> None:
    # A frame whose pixel value encodes its position: warped crops must hold the values of the
    # frame pixels their affine maps onto (bilinear sampling of a linear ramp is exact).
    h, w = 300, 400
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    frame = np.stack([xs, ys, xs + ys], -1)
    rois = np.array(
        [[200, 150, 100, 100, 0.3], [120, 100, 80, 60, -1.2], [250, 180, 50, 50, 2.5]], np.float32
    )
    m = roi.crop_to_frame(rois, 32)
    crops = roi.warp_crops(frame, m, 32)
    assert crops.shape == (3, 32, 32, 3)
    q = rng.uniform(2, 30, (3, 20, 2))
    # Crop pixel (i, j) samples crop coordinate (j, i); compare at integer crop pixels.
    qi = np.floor(q).astype(int)
    expected = roi.apply_affine(m, qi.astype(np.float64))
    got = crops[np.arange(3)[:, None], qi[..., 1], qi[..., 0], :2]
    assert np.allclose(got, expected, atol=1e-2)


def test_warp_outside_the_frame_is_black() -> None:
    frame = np.full((10, 10, 3), 255, np.uint8)
    crops = roi.warp_crops(frame, roi.crop_to_frame(np.array([[1000.0, 1000, 10, 10, 0]]), 8), 8)
    assert crops.max() == 0


def test_letterbox_fits_the_whole_frame_centred() -> None:
    m = roi.letterbox(400, 200, 100)  # scale 4 px per crop px, 25 crop px of padding top and bottom
    corners = roi.apply_affine(m[None], np.array([[[0.0, 25.0], [100.0, 75.0]]]))[0]
    assert np.allclose(corners, [[0, 0], [400, 200]])


@pytest.mark.parametrize(("w", "h", "n"), [(1768, 994, 3), (994, 1768, 3), (1280, 960, 2), (500, 500, 1)])
def test_square_tiles_cover_the_frame_and_overlap_by_half_a_side(w: int, h: int, n: int) -> None:
    tiles = roi.square_tiles(w, h)
    side = min(w, h)
    assert tiles.shape == (n, 5) and np.allclose(tiles[:, 2:4], side) and np.allclose(tiles[:, 4], 0)
    boxes = roi.roi_box(tiles)
    assert np.allclose(boxes.min(0)[:2], 0, atol=1e-3) and np.allclose(boxes.max(0)[2:], [w, h], atol=1e-3)
    axis = 0 if w >= h else 1
    steps = np.diff(tiles[:, axis])
    assert np.all(side - steps >= side / 2 - 1e-6)  # neighbours share at least half a side


def test_a_detection_in_a_tile_maps_back_to_frame_pixels() -> None:
    """The known affine of the last tile of a 1768x994 frame: crop (0, 0) is frame (774, 0), one crop
    pixel is 994 / 224 frame pixels; and the inverse brings frame points back into the crop."""
    m = roi.crop_to_frame(roi.square_tiles(1768, 994)[-1:], 224)
    pts = np.array([[[0.0, 0.0], [224.0, 224.0], [112.0, 56.0]]])
    s = 994 / 224
    assert np.allclose(roi.apply_affine(m, pts)[0], [[774, 0], [1768, 994], [774 + 112 * s, 56 * s]])
    frame_pts = np.array([[[900.0, 300.0], [1500.0, 900.0]]])
    back = roi.apply_affine(m, roi.apply_affine(invert_affine(m), frame_pts))
    assert np.allclose(back, frame_pts)


def test_same_person_compares_centres_not_box_overlap() -> None:
    tracked = np.array([[800.0, 300, 400, 400, 0], [1000, 300, 400, 400, 0]])
    # The detector's ROI of the first person: 1.8x the tracked one, hip 30 px off.
    det = np.array([810.0, 330, 720, 720, 0.1])
    assert iou(roi.roi_box(det[None])[0], roi.roi_box(tracked[:1]))[0] < 0.4  # the old rule: a new person
    assert roi.same_person(det, tracked).tolist() == [True, False]
    # Someone half a side away from the nearest tracked person is someone else.
    assert not roi.same_person(np.array([600.0, 300, 400, 400, 0]), tracked).any()


def test_distinct_persons_keeps_the_best_of_each_person() -> None:
    rois = np.array([[100.0, 100, 200, 200, 0], [110, 105, 360, 360, 0], [400, 100, 200, 200, 0]])
    keep = roi.distinct_persons(rois, np.array([0.6, 0.9, 0.7]), max_out=4)
    assert keep.tolist() == [1, 2]
    assert roi.distinct_persons(rois, np.array([0.6, 0.9, 0.7]), max_out=1).tolist() == [1]
    assert roi.distinct_persons(np.zeros((0, 5)), np.zeros(0), 4).shape == (0,)
