"""Tracker: stable ids through crossings, a few missed frames survived, ids never reused."""

from __future__ import annotations

import numpy as np

from camerapose.runtime.detect.tracker import Observation, Tracker, TrackerConfig, pose_box

# A stick figure (17 joints) around the origin, about 100 px tall.
_SHAPE = np.array(
    [
        [0, 0],
        [8, 0],
        [8, 25],
        [8, 50],
        [-8, 0],
        [-8, 25],
        [-8, 50],
        [0, -15],
        [0, -30],
        [0, -38],
        [0, -45],
        [-12, -30],
        [-18, -15],
        [-20, 0],
        [12, -30],
        [18, -15],
        [20, 0],
    ],
    np.float64,
)


def person(x: float, y: float = 100.0, jitter: np.ndarray | None = None) -> Observation:
    kp = _SHAPE + [x, y] + (0 if jitter is None else jitter)
    return Observation(kp, np.ones(17), pose_box(kp), 0.9)


def raw(cfg: TrackerConfig | None = None) -> Tracker:
    from dataclasses import replace

    return Tracker(replace(cfg or TrackerConfig(), smooth=False))


def test_two_persons_crossing_keep_their_ids() -> None:
    trk = raw()
    ids_a, ids_b = [], []
    for i in range(40):  # A walks right, B walks left; they pass each other at frame ~20
        a, b = person(100 + 10 * i), person(500 - 10 * i)
        order = [b, a] if i % 2 else [a, b]  # input order must not matter
        out = dict(zip(map(id, order), trk.update(order, i / 30), strict=True))
        ids_a.append(out[id(a)][0])
        ids_b.append(out[id(b)][0])
    assert len(set(ids_a)) == 1 and len(set(ids_b)) == 1 and ids_a[0] != ids_b[0]


def test_a_track_survives_a_few_missed_frames() -> None:
    trk = raw(TrackerConfig(max_misses=3))
    first = trk.update([person(100)], 0.0)[0][0]
    for i in range(1, 4):
        assert trk.update([], i / 30) == []
    assert trk.update([person(100)], 4 / 30)[0][0] == first


def test_a_person_leaving_and_coming_back_gets_a_new_id_and_ids_are_never_reused() -> None:
    trk = raw(TrackerConfig(max_misses=2))
    seen = []
    t = 0.0
    for _ in range(3):
        seen.append(trk.update([person(100)], t)[0][0])
        for _ in range(5):  # gone longer than max_misses
            t += 1 / 30
            trk.update([], t)
        t += 1 / 30
    assert len(set(seen)) == 3 and seen == sorted(seen)


def test_new_people_are_picked_up_beside_the_tracked_ones() -> None:
    trk = raw()
    a = trk.update([person(100)], 0.0)[0][0]
    out = trk.update([person(102), person(600)], 1 / 30)
    assert out[0][0] == a and out[1][0] != a


def test_a_hint_keeps_the_id_across_a_big_jump() -> None:
    trk = raw()
    a = trk.update([person(100)], 0.0)[0][0]
    jumped = person(180)
    assert trk.update([jumped], 1 / 30)[0][0] != a  # too far for keypoint similarity alone
    trk2 = raw()
    a = trk2.update([person(100)], 0.0)[0][0]
    jumped.hint = a
    assert trk2.update([jumped], 1 / 30)[0][0] == a


def test_smoothing_reduces_jitter_of_a_still_person(rng: np.random.Generator) -> None:
    trk = Tracker(TrackerConfig())
    errs_raw, errs_smooth = [], []
    for i in range(60):
        noise = rng.normal(0, 2.0, (17, 2))
        obs = person(300, jitter=noise)
        _, kp = trk.update([obs], i / 30)[0]
        if i > 10:
            errs_raw.append(np.abs(noise).mean())
            errs_smooth.append(np.abs(kp - (_SHAPE + [300, 100])).mean())
    assert np.mean(errs_smooth) < 0.6 * np.mean(errs_raw)



def test_a_detectors_saved_tracking_state_goes_on_exactly_as_the_detector_that_saved_it() -> None:
    import pickle

    from camerapose.runtime.detect.base import Detector, DetectorConfig

    class Scripted(Detector):
        """A backend that 'finds' two people, at the next of `xs` and 300 px right of it."""

        def __init__(self, xs: np.ndarray) -> None:
            super().__init__(DetectorConfig())
            self.xs = iter(xs)

        def _find(self, frames, streams, timestamps, live):  # a list per frame of (observation, state)
            x = float(next(self.xs))
            return [[(person(x), None), (person(x + 300), None)] for _ in frames]

    def detect(det: Detector, times: np.ndarray) -> list[list[tuple[int, np.ndarray]]]:
        frame = np.zeros((64, 64, 3), np.uint8)
        return [[(p.id, p.kp2d) for p in det.detect([frame], [t], ["cam"])[0]] for t in times]

    xs = np.cumsum(np.random.default_rng(3).normal(4, 3, 12)) + 50  # walking right, jittering
    times = np.arange(12) / 30
    whole = detect(Scripted(xs), times)
    first = Scripted(xs[:6])
    detect(first, times[:6])
    saved = pickle.dumps(first.stream_state("cam"))  # what the detect stage keeps per frame
    again = Scripted(xs[6:])  # the restarted stage
    again.restore_stream("cam", pickle.loads(saved))
    rest = detect(again, times[6:])
    for a, b in zip(whole[6:], rest, strict=True):
        assert [i for i, _ in a] == [i for i, _ in b]
        for (_, ka), (_, kb) in zip(a, b, strict=True):
            assert np.array_equal(ka, kb)  # the filters went on where they were
