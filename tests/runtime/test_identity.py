"""runtime/detect/identity.py: clothing colours and body proportions tell people apart."""

from __future__ import annotations

import cv2
import numpy as np

from camerapose.core.skeleton import Joint
from camerapose.runtime.detect import identity

# An upright person ~240 px tall at x=200: H36M-17 keypoints in pixels.
_KP = np.array([[200, 200], [220, 200], [222, 270], [224, 340], [180, 200], [178, 270], [176, 340],
                [200, 160], [200, 120], [200, 105], [200, 90], [175, 122], [168, 160], [165, 195],
                [225, 122], [232, 160], [235, 195]], np.float64)


def _dressed(shirt: tuple[int, int, int], trousers: tuple[int, int, int], shift: float = 0.0,
             glare: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """A 400x400 frame with a person painted in (BGR) shirt and trousers; -> (frame, keypoints)."""
    kp = _KP + [shift, 0]
    frame = np.full((400, 400, 3), 90, np.uint8)
    torso = kp[[Joint.LSHOULDER, Joint.RSHOULDER, Joint.RHIP, Joint.LHIP]]
    cv2.fillConvexPoly(frame, np.round(torso).astype(np.int32), shirt)
    for a, b in ((Joint.LHIP, Joint.LKNEE), (Joint.LKNEE, Joint.LFOOT), (Joint.RHIP, Joint.RKNEE),
                 (Joint.RKNEE, Joint.RFOOT)):
        cv2.line(frame, tuple(kp[a].astype(int)), tuple(kp[b].astype(int)), trousers, 18)
    return np.clip(frame * glare, 0, 255).astype(np.uint8), kp


def test_the_same_clothes_look_alike_moved_and_in_glare_and_other_clothes_do_not() -> None:
    red_blue = identity.appearance(*_dressed((30, 30, 200), (160, 60, 20)), np.ones(17))
    moved = identity.appearance(*_dressed((30, 30, 200), (160, 60, 20), shift=60, glare=1.25), np.ones(17))
    green_grey = identity.appearance(*_dressed((40, 170, 40), (120, 120, 120)), np.ones(17))
    assert red_blue is not None and red_blue.shape == (identity.APPEARANCE_SIZE,)
    assert identity.appearance_similarity(red_blue, moved) > 0.8
    assert identity.appearance_similarity(red_blue, green_grey) < 0.3


def test_an_unseen_part_is_left_out_and_compared_on_what_both_show() -> None:
    frame, kp = _dressed((30, 30, 200), (160, 60, 20))
    whole = identity.appearance(frame, kp, np.ones(17))
    conf = np.ones(17)
    conf[Joint.LKNEE] = 0.1  # legs not seen well: torso only
    torso = identity.appearance(frame, kp, conf)
    assert torso is not None and torso[:32].any() and not torso[32:].any()
    assert identity.appearance_similarity(whole, torso) > 0.9  # compared on the torso alone
    conf[Joint.LSHOULDER] = 0.1  # nothing seen
    assert identity.appearance(frame, kp, conf) is None
    assert identity.appearance(frame, kp - 1000, np.ones(17)) is None  # out of the frame
    legs_only = whole.copy()
    legs_only[:32] = 0
    assert identity.appearance_similarity(torso, legs_only) is None  # no part in common
    merged = identity.merge_appearance(torso, legs_only, 0.5)
    assert np.allclose(merged[:32], torso[:32]) and np.allclose(merged[32:], whole[32:])  # each part kept


def test_proportions_ignore_scale_and_pose_but_see_another_body() -> None:
    rng = np.random.default_rng(1)
    body = rng.normal(0, 0.3, (17, 3))
    a = identity.proportions(body[:, :2], body)
    rot = np.linalg.qr(rng.normal(size=(3, 3)))[0]
    b = identity.proportions(body[:, :2], 1.7 * body @ rot.T)  # same body, scaled and turned
    other = body.copy()
    other[[Joint.LKNEE, Joint.RKNEE, Joint.LFOOT, Joint.RFOOT]] *= 1.6  # longer legs
    c = identity.proportions(other[:, :2], other)
    assert a is not None and b is not None and c is not None
    assert identity.proportion_similarity(a, b) > 0.99
    assert identity.proportion_similarity(a, c) < 0.6
    assert identity.proportions(np.zeros((17, 2))) is None  # every joint on one point
