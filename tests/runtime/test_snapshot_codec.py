"""runtime/stages/snapshot_codec.py: offline snapshots round-trip exactly and never run code."""

import os
import pickle
from collections import deque

import msgpack
import numpy as np
import pytest

from camerapose.core.lift_steps import BoneLengths
from camerapose.core.one_euro import OneEuroConfig, OneEuroFilter
from camerapose.runtime.detect.tracker import Observation, Tracker, TrackerConfig
from camerapose.runtime.stages import snapshot_codec as codec


def _tracker() -> Tracker:
    """A tracker with a confirmed track (colours and proportions known), a lost one and a tentative one."""
    tr = Tracker(TrackerConfig())
    rng = np.random.default_rng(0)
    for i in range(5):
        kp = (rng.random((17, 2)) * 100 + 200).astype(np.float32)
        obs = [Observation(kp, np.ones(17, np.float32), np.array([200, 200, 300, 300], np.float32), 0.9,
                           appearance=rng.random(64).astype(np.float32),
                           proportions=rng.random(8).astype(np.float32))]
        if i == 0:  # a second person, lost after the first frame
            obs.append(Observation(kp + 500, np.ones(17, np.float32),
                                   np.array([700, 700, 800, 800], np.float32), 0.9))
        if i >= 3:  # a third, still tentative
            obs.append(Observation(kp - 150, np.ones(17, np.float32),
                                   np.array([50, 50, 150, 150], np.float32), 0.9))
        tr.update(obs, i / 30)
    assert {t.id for t in tr.tracks} == {1, 2, -1} and tr.tracks[1].misses > 0
    return tr


def test_a_tracker_comes_back_equal_and_goes_on_exactly_like_the_original():
    tr = _tracker()
    back = codec.loads(codec.dumps(tr))
    assert type(back) is Tracker and codec.dumps(back) == codec.dumps(tr)
    obs = [Observation(np.full((17, 2), 250, np.float32), np.ones(17, np.float32),
                       np.array([200, 200, 300, 300], np.float32), 0.9)]
    a, b = tr.update(obs, 6 / 30), back.update(obs, 6 / 30)
    assert [i for i, _ in a] == [i for i, _ in b]
    np.testing.assert_array_equal(a[0][1], b[0][1])


def test_containers_arrays_and_scalars_keep_their_kinds():
    state = {"t": (1, 2.5, "x"), ("s", 3): deque([np.arange(3, dtype=np.int16)], maxlen=4), 7: None,
             "f": np.float32(1.5), "bones": BoneLengths(window=3)}
    back = codec.loads(codec.dumps(state))
    assert back["t"] == (1, 2.5, "x") and back[7] is None and back["f"] == 1.5
    d = back[("s", 3)]
    assert isinstance(d, deque) and d.maxlen == 4 and d[0].dtype == np.int16
    np.testing.assert_array_equal(d[0], np.arange(3))
    assert isinstance(back["bones"], BoneLengths)


def test_a_class_outside_the_allowed_list_is_refused_both_ways(tmp_path):
    with pytest.raises(TypeError, match="not an allowed state class"):
        codec.dumps({"x": tmp_path})  # a PosixPath: not state
    forged = msgpack.packb(msgpack.ExtType(codec.OBJECT, msgpack.packb(["os.system", {}])))
    with pytest.raises(codec.SnapshotError, match="not allowed"):
        codec.loads(forged)


def test_a_pickle_payload_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    with pytest.raises(codec.SnapshotError):
        codec.loads(pickle.dumps(Payload()))
    assert not marker.exists()


def test_object_arrays_and_truncated_files_are_refused():
    with pytest.raises(TypeError, match="object arrays"):
        codec.dumps(np.array([object()], dtype=object))
    good = codec.dumps({"f": OneEuroFilter(OneEuroConfig())})
    with pytest.raises(codec.SnapshotError):
        codec.loads(good[:-3])
