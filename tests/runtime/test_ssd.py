"""SSD anchors, decoding and NMS: the numbers of MediaPipe's pose detector, and known answers."""

from __future__ import annotations

import numpy as np
import pytest

from camerapose.runtime.detect import ssd


def test_pose_detector_anchor_layout_matches_the_model_output() -> None:
    a = ssd.generate_anchors(ssd.AnchorConfig())
    # 28x28 cells x 2 (stride 8) + 14x14 x 2 (stride 16) + 7x7 x 6 (three layers of stride 32).
    assert a.shape == (28 * 28 * 2 + 14 * 14 * 2 + 7 * 7 * 6, 4) == (2254, 4)
    assert np.allclose(a[0], [0.5 / 28, 0.5 / 28, 1, 1])
    assert np.allclose(a[1], a[0])  # two anchors per cell, fixed size
    assert np.allclose(a[2, :2], [1.5 / 28, 0.5 / 28])  # cells run along x first
    assert np.allclose(a[1568, :2], [0.5 / 14, 0.5 / 14])  # first stride-16 anchor
    assert np.allclose(a[1568 + 392 : 1568 + 392 + 6, :2], [0.5 / 7, 0.5 / 7])  # six per stride-32 cell
    assert np.allclose(a[-1], [6.5 / 7, 6.5 / 7, 1, 1])


def test_anchor_sizes_follow_the_scales_when_not_fixed() -> None:
    cfg = ssd.AnchorConfig(
        input_size=(64, 64), strides=(32, 64), min_scale=0.2, max_scale=0.6, fixed_anchor_size=False
    )
    a = ssd.generate_anchors(cfg)
    assert a.shape == (2 * 2 * 2 + 1 * 1 * 2, 4)
    assert np.allclose(a[0, 2:], [0.2, 0.2])
    assert np.allclose(a[1, 2:], [np.sqrt(0.2 * 0.6)] * 2)  # interpolated scale
    assert np.allclose(a[-1, 2:], [np.sqrt(0.6 * 1.0)] * 2)  # last layer interpolates with 1.0


def test_decode_inverts_a_known_encoding() -> None:
    anchors = np.array([[0.25, 0.5, 1, 1], [0.75, 0.25, 1, 1]], np.float32)
    box = np.array([[0.2, 0.4, 0.4, 0.7], [0.6, 0.1, 0.9, 0.3]])  # x0 y0 x1 y1
    kps = np.array([[[0.3, 0.45]], [[0.8, 0.2]]])
    raw = np.concatenate(
        [
            ((box[:, :2] + box[:, 2:]) / 2 - anchors[:, :2]) * 224,
            (box[:, 2:] - box[:, :2]) * 224,
            (kps[:, 0] - anchors[:, :2]) * 224,
        ],
        1,
    ).astype(np.float32)
    b, k = ssd.decode(raw, anchors, num_keypoints=1)
    assert np.allclose(b, box, atol=1e-6)
    assert np.allclose(k, kps, atol=1e-6)


def test_decode_rejects_the_wrong_width() -> None:
    with pytest.raises(ValueError, match="raw"):
        ssd.decode(np.zeros((3, 10), np.float32), np.zeros((3, 4), np.float32), num_keypoints=4)


def test_sigmoid_scores_survive_extreme_logits() -> None:
    s = ssd.sigmoid_scores(np.array([[-1e4], [0.0], [1e4]]))
    assert np.allclose(s, [0, 0.5, 1]) and np.isfinite(s).all()


def test_weighted_nms_merges_a_cluster_into_its_score_weighted_mean() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60]], np.float32)
    scores = np.array([0.9, 0.3, 0.8], np.float32)
    kps = np.array([[[5, 5]], [[9, 5]], [[55, 55]]], np.float32)
    b, s, k = ssd.weighted_nms(boxes, scores, kps, iou_threshold=0.3)
    assert np.allclose(s, [0.9, 0.8])
    assert np.allclose(b[0], [0.25, 0, 10.25, 10])  # (0.9*0 + 0.3*1) / 1.2
    assert np.allclose(k[0, 0], [6, 5])  # (0.9*5 + 0.3*9) / 1.2
    assert np.allclose(b[1], boxes[2]) and np.allclose(k[1], kps[2])


def test_weighted_nms_limits_the_output_and_handles_nothing() -> None:
    boxes = np.array([[0, 0, 1, 1], [5, 5, 6, 6], [9, 9, 10, 10]], np.float32)
    b, s, _ = ssd.weighted_nms(
        boxes, np.array([0.5, 0.7, 0.6], np.float32), np.zeros((3, 4, 2), np.float32), max_out=2
    )
    assert np.allclose(s, [0.7, 0.6]) and np.allclose(b, boxes[[1, 2]])
    b, s, k = ssd.weighted_nms(
        np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, 4, 2), np.float32)
    )
    assert b.shape == (0, 4) and s.shape == (0,) and k.shape == (0, 4, 2)


def test_plain_nms_keeps_the_best_of_overlapping_boxes() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30]], np.float32)
    keep = ssd.nms(boxes, np.array([0.5, 0.9, 0.4], np.float32), 0.45)
    assert keep.tolist() == [1, 2]


def test_iou_of_known_boxes() -> None:
    v = ssd.iou(np.array([0, 0, 2, 2.0]), np.array([[1, 1, 3, 3.0], [0, 0, 2, 2], [5, 5, 6, 6]]))
    assert np.allclose(v, [1 / 7, 1, 0])
