"""The lost-person search (runtime/detect/blazepose.py): a track's predicted ROI at 8 rotations
finds a person the tracked ROI lost (the demo's backflip into the sun)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from camerapose.core.one_euro import OneEuroFilter
from camerapose.runtime.detect.base import DetectorConfig
from camerapose.runtime.detect.blazepose import predicted_roi, roi_ring, same_pose
from camerapose.runtime.detect.registry import create_detector
from camerapose.runtime.detect.tracker import TrackState, box_extent

FLIP = range(160, 192)  # the man jumps off the roof with a backflip at ~168-188


def test_the_ring_turns_the_roi_in_equal_steps_from_its_own_rotation() -> None:
    roi = np.array([100, 200, 50, 50, 0.3], np.float32)
    ring = roi_ring(roi, 8)
    assert ring.shape == (8, 5) and np.allclose(ring[:, :4], roi[:4])
    steps = np.diff(np.unwrap(ring[:, 4].astype(np.float64)))
    assert np.isclose(ring[0, 4], 0.3) and np.allclose(steps, np.pi / 4, atol=1e-6)


def test_the_predicted_roi_moves_with_the_pelvis_and_turns_with_the_spin() -> None:
    kp = np.zeros((17, 2))
    track = TrackState(1, kp, np.full((17, 2), 30.0), np.zeros(4), 1.0, OneEuroFilter(), angle=0.5, spin=2.0)
    roi = np.array([10, 20, 80, 80, 0.5], np.float32)
    out = predicted_roi(roi, track, 1.1, coast_s=0.5)
    assert np.allclose(out[:2], [13, 23]) and np.isclose(out[4], 0.7) and np.allclose(out[2:4], 80)
    far = predicted_roi(roi, track, 5.0, coast_s=0.5)  # coasting stops after 0.5 s
    assert np.allclose(far[:2], [25, 35]) and np.isclose(far[4], 1.5)


def test_box_extent_is_the_longer_side() -> None:
    assert box_extent(np.array([0, 0, 30, 200])) == 200 and box_extent(np.array([5, 5, 5, 5])) == 1.0


def test_a_pose_inside_another_at_its_pelvis_is_the_same_person_but_a_neighbour_is_not() -> None:
    woman = np.array([170, 540, 370, 1080], np.float32)
    pelvis = np.array([[280, 790]], np.float32)
    ghost = np.array([200, 640, 320, 1010], np.float32)  # a drifted ROI's pose, shrunk onto her
    assert same_pose(ghost, np.array([290, 760]), woman[None], pelvis, 0.5).all()  # IoU only 0.41
    beside = np.array([300, 560, 520, 1080], np.float32)  # someone overlapping her, pelvis 150 px off
    assert not same_pose(beside, np.array([430, 800]), woman[None], pelvis, 0.5).any()
    assert same_pose(woman, pelvis[0], woman[None], pelvis, 0.5).all()


@pytest.mark.slow
@pytest.mark.assets
def test_the_search_keeps_the_man_through_the_backflip_and_costs_nothing_when_nobody_is_lost(
        demo_video: Path, detector_models: tuple[Path, Path]) -> None:
    cap = cv2.VideoCapture(str(demo_video))
    frames = [cap.read()[1] for _ in range(FLIP.stop)]
    cap.release()
    cfg = DetectorConfig(detector_model=str(detector_models[0]), landmark_model=str(detector_models[1]))
    found, crops = {}, {}
    for search in (True, False):
        with create_detector(replace(cfg, lost_search=search)) as det:
            ids, cost = [], []
            for i, f in enumerate(frames):
                ids.append({p.id for p in det.detect([f], [i / 30])[0]})
                cost.append(det.last_stats["search_crops"])
        man = next(iter(ids[0]))
        found[search] = sum(man in ids[i] for i in range(170, 189))
        crops[search] = cost
    assert found[True] >= 15 and found[True] > found[False], found
    assert sum(crops[True][90:160]) == 0  # both people tracked: no search
    assert sum(crops[True][FLIP.start:]) > 0 and sum(crops[False]) == 0
