"""Tracker: stable ids through crossings and gaps, re-identification, tentative tracks, ids never reused."""

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


def test_a_track_survives_missed_frames_within_its_memory() -> None:
    trk = Tracker(TrackerConfig(smooth=False), memory_s=0.5)
    first = trk.update([person(100)], 0.0)[0][0]
    for i in range(1, 12):  # 0.37 s unseen
        assert trk.update([], i / 30) == []
    assert trk.update([person(100)], 12 / 30)[0][0] == first


def test_a_person_gone_longer_than_the_memory_gets_a_new_id_and_ids_are_never_reused() -> None:
    trk = Tracker(TrackerConfig(smooth=False), memory_s=0.2, min_frames=1)
    seen = []
    t = 0.0
    for _ in range(3):
        seen.append(trk.update([person(100)], t)[0][0])
        for _ in range(10):  # gone 0.33 s
            t += 1 / 30
            trk.update([], t)
        t += 1 / 30
    assert len(set(seen)) == 3 and seen == sorted(seen)


def test_a_new_person_is_published_only_once_tracked_min_frames() -> None:
    trk = Tracker(TrackerConfig(smooth=False), min_frames=5)
    a = trk.update([person(100)], 0.0)[0][0]
    assert a == 1  # the stream's first people are confirmed at once
    got = [trk.update([person(100), person(600)], i / 30)[1][0] for i in range(1, 7)]
    assert all(g < 0 for g in got[:3]) and got[4:] == [2, 2]  # tentative (< 0), then the next id


def test_a_short_spurious_track_never_takes_an_id() -> None:
    trk = Tracker(TrackerConfig(smooth=False), min_frames=5)
    trk.update([person(100)], 0.0)
    for i in range(1, 4):  # a false pose for 3 frames
        assert trk.update([person(100), person(600)], i / 30)[1][0] < 0
    for i in range(4, 10):
        trk.update([person(100)], i / 30)
    late = [trk.update([person(100), person(900)], i / 30)[1][0] for i in range(10, 16)]
    assert late[-1] == 2  # the next real person gets 2: no id was spent on the false one


def test_global_assignment_beats_greedy_matching() -> None:
    trk = Tracker()
    tracks = [object(), object()]
    # Greedy would take (0, 0) = 0.9 and leave track 1 with 0.1 (no match); the best total pairs
    # track 0 with observation 1 and track 1 with observation 0.
    sim = np.array([[0.9, 0.8], [0.7, 0.1]])
    got = trk._assign(tracks, [None, None], sim, 0.2)  # type: ignore[arg-type]
    assert got == {1: tracks[0], 0: tracks[1]}


def _dressed(x: float, colour: int, y: float = 100.0) -> Observation:
    o = person(x, y)
    o.appearance = np.zeros(64, np.float32)
    o.appearance[[colour, 32 + colour]] = 1.0  # one hue bin for the torso, one for the legs
    return o


def test_a_lost_person_takes_back_their_id_by_their_colours_not_the_nearest_one() -> None:
    trk = Tracker(TrackerConfig(smooth=False), memory_s=2.0)
    red = trk.update([_dressed(300, 3)], 0.0)[0][0]
    for i in range(1, 30):  # gone for a second (behind something)
        trk.update([], i / 30)
    # two people come out: the nearer one wears other colours
    out = trk.update([_dressed(310, 12), _dressed(420, 3)], 1.0)
    assert out[1][0] == red and out[0][0] < 0


def test_a_tentative_track_that_is_a_kept_person_gets_their_id_when_confirmed() -> None:
    trk = Tracker(TrackerConfig(smooth=False, min_identity=0.5), memory_s=2.0, min_frames=3)
    red = trk.update([_dressed(300, 3), _dressed(900, 8)], 0.0)[0][0]
    for i in range(1, 20):
        trk.update([_dressed(900, 8)], i / 30)
    unknown = _dressed(560, 3)
    unknown.appearance = None  # colours not seen well on the first frame back: too far to go by nearness
    first = trk.update([_dressed(900, 8), unknown], 20 / 30)[1][0]
    assert first < 0  # nothing to recognise yet: tentative
    ids = [trk.update([_dressed(900, 8), _dressed(560, 3)], i / 30)[1][0] for i in range(21, 24)]
    assert ids[-1] == red


def test_the_body_rotation_is_predicted_from_its_spin() -> None:
    trk = Tracker(TrackerConfig(smooth=False))
    for i in range(5):  # turning 0.2 rad per frame about the pelvis
        a = 0.2 * i
        rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        kp = _SHAPE @ rot.T + [300, 300]
        trk.update([Observation(kp, np.ones(17), pose_box(kp), 0.9)], i / 30)
    tr = trk.tracks[0]
    _, _, angle = tr.predict(5 / 30)
    assert abs(angle - tr.angle - 0.2) < 0.05 and abs(tr.angle - 0.8) < 1e-6


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


def test_a_second_track_on_one_person_takes_their_id_when_the_first_dies_on_its_confirming_frame() -> None:
    trk = Tracker(TrackerConfig(smooth=False), min_frames=3)
    assert trk.update([person(100)], 0.0)[0][0] == 1
    for i in (1, 2):  # a second ROI on the same person, a little off: tentative
        assert trk.update([person(100), person(130)], i / 30)[1][0] < 0
    # the first ROI dies on the frame the second is confirmed: the person is still id 1
    assert trk.update([person(131)], 3 / 30)[0][0] == 1
    assert [tr.id for tr in trk.tracks] == [1]
