"""The tracking suite: hand labels, the MOT figures on synthetic sequences, the Pose2Sim boxes, the
live pacing; and (slow) its quick report."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from camerapose.benchmarks import tracking as bench


def box(cx: float, cy: float, w: float = 100.0, h: float = 300.0) -> np.ndarray:
    return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])


def walk(frames: int, x0: float, step: float, y: float = 500.0) -> list[np.ndarray]:
    return [box(x0 + step * f, y) for f in range(frames)]


LABELS = {"size": [1000, 800], "frames": 30, "persons": [
    {"name": "a", "ranges": [[2, 10], [20, 24]],
     "keyframes": [[2, 0, 0, 100, 300], [10, 80, 0, 180, 300], [20, 500, 100, 600, 400],
                   [24, 500, 100, 600, 400]]},
    {"name": "b", "ranges": [[0, 29]], "keyframes": [[0, 10, 10, 50, 50], [29, 10, 10, 50, 50]]},
]}


def test_labels_interpolate_linearly_within_ranges_and_are_absent_outside():
    gt = bench.label_tracks(LABELS)
    assert len(gt) == 30
    assert [f for f in range(30) if "a" in gt[f]] == [*range(2, 11), *range(20, 25)]
    np.testing.assert_allclose(gt[6]["a"], [40, 0, 140, 300])  # halfway from frame 2 to 10
    np.testing.assert_allclose(gt[2]["a"], [0, 0, 100, 300])
    # 11-19 lie between two ranges: absent, not interpolated across the gap
    assert all("a" not in gt[f] for f in range(11, 20)) and all("b" in g for g in gt)


def test_label_problems_name_what_is_wrong():
    assert bench.label_problems(LABELS) == []
    unsorted = copy.deepcopy(LABELS)
    unsorted["persons"][0]["keyframes"][:2] = unsorted["persons"][0]["keyframes"][1::-1]
    assert any("sorted" in p for p in bench.label_problems(unsorted))
    outside = copy.deepcopy(LABELS)
    outside["persons"][1]["keyframes"][0] = [0, 10, 10, 1200, 50]
    assert any("outside the 1000x800 frame" in p for p in bench.label_problems(outside))
    no_end = copy.deepcopy(LABELS)
    no_end["persons"][0]["keyframes"].pop(1)
    assert any("both ends" in p for p in bench.label_problems(no_end))
    no_ranges = copy.deepcopy(LABELS)
    no_ranges["persons"][1]["ranges"] = []
    assert any("needs ranges" in p for p in bench.label_problems(no_ranges))


def test_the_demo_labels_are_well_formed():
    labels = bench.load_labels(bench.LABELS)  # raises on any label_problems
    assert labels["frames"] == 230 and labels["size"] == [1768, 994] and "inclusive" in labels["note"].lower()
    width, height = labels["size"]
    names = [p["name"] for p in labels["persons"]]
    assert names == ["man", "woman"]
    for person in labels["persons"]:
        assert person["ranges"] and all(a <= b for a, b in person["ranges"])
        frames = [k[0] for k in person["keyframes"]]
        assert frames == sorted(set(frames))
        for _, x0, y0, x1, y1 in person["keyframes"]:
            assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height
    gt = bench.label_tracks(labels)
    # every 2 frames over the man's backflip; the two people never within a match of each other
    man = next(p for p in labels["persons"] if p["name"] == "man")
    assert set(range(164, 193, 2)) <= {k[0] for k in man["keyframes"]}
    both = [g for g in gt if len(g) == 2]
    assert both and min(bench.centre_distance(g["man"][None], g["woman"][None])[0, 0] for g in both) > 1.0


def test_centre_distance_tolerates_extent_not_position():
    gt = box(500, 500, 100, 300)  # diagonal ~316 px
    hyp = np.stack([box(500, 500, 200, 250), box(500 + 150, 500), box(500 + 170, 500)])
    d = bench.centre_distance(gt[None], hyp)[0]
    assert d[0] == pytest.approx(0.0)  # another extent, same place: a match
    assert d[1] < bench.MATCH_DIST < d[2]


def test_a_perfectly_tracked_sequence_scores_idf1_one_and_no_switch():
    a, b = walk(40, 100, 5), walk(40, 800, -5)
    gt = [{"a": a[f], "b": b[f]} for f in range(40)]
    hyp = [{7: a[f] + 3, 9: b[f] - 3} for f in range(40)]
    s = bench.summarize(gt, hyp)
    assert s["idf1"] == pytest.approx(1.0) and s["mota"] == pytest.approx(1.0)
    assert s["id_switches"] == 0 and s["fragmentations"] == 0 and s["spurious_ids"] == []
    assert s["hyp_ids"] == [7, 9] and s["persons"]["a"]["ids"] == [7] and s["persons"]["b"]["ids"] == [9]
    assert s["persons"]["a"]["covered_frac"] == 1.0 and s["persons"]["a"]["segments"] == [[7, 0, 39]]


def test_an_id_switch_counts_once():
    a = walk(40, 100, 5)
    gt = [{"a": a[f]} for f in range(40)]
    hyp = [{1 if f < 20 else 2: a[f]} for f in range(40)]
    s = bench.summarize(gt, hyp)
    assert s["id_switches"] == 1
    assert s["persons"]["a"]["ids"] == [1, 2] and s["persons"]["a"]["segments"] == [[1, 0, 19], [2, 20, 39]]
    assert s["idf1"] == pytest.approx(0.5) and s["spurious_ids"] == []


def test_a_short_ghost_track_is_spurious_and_a_false_positive():
    a = walk(40, 100, 5)
    gt = [{"a": a[f]} for f in range(40)]
    hyp = [{1: a[f]} | ({5: box(900, 200)} if 10 <= f < 13 else {}) for f in range(40)]
    s = bench.summarize(gt, hyp)
    assert s["spurious_ids"] == [5] and s["hyp_ids"] == [1, 5]
    assert s["false_positives"] == 3 and s["id_switches"] == 0
    # a duplicate that sits on the person but is never the one matched is spurious too
    hyp = [{1: a[f], 4: a[f] + 2} for f in range(40)]
    assert bench.summarize(gt, hyp)["spurious_ids"] == [4]


def test_frames_covered_is_the_share_of_labelled_frames_with_a_match():
    a = walk(40, 100, 5)
    gt = [{"a": a[f]} if f >= 10 else {} for f in range(40)]  # in view from frame 10: 30 labelled frames
    hyp = [{1: a[f]} if f < 25 or f >= 31 else {} for f in range(40)]  # lost over 25-30; 0-9 unlabelled
    s = bench.summarize(gt, hyp)
    p = s["persons"]["a"]
    assert (p["frames"], p["covered"]) == (30, 24) and p["covered_frac"] == pytest.approx(0.8)
    assert p["segments"] == [[1, 10, 24], [None, 25, 30], [1, 31, 39]]
    assert s["fragmentations"] == 1 and s["id_switches"] == 0 and s["misses"] == 6
    assert s["false_positives"] == 10  # the track before the person is labelled in view
    check = bench.person_checks(s, "a", (20, 29))
    assert check == {"ids": [[1, 10, 24], [1, 31, 39]], "window": [20, 29], "window_frames": 10,
                     "window_with_pose": 5}


def test_scoring_only_some_frames_ignores_the_others():
    a = walk(20, 100, 5)
    gt = [{"a": a[f]} for f in range(20)]
    hyp = [{1: a[f]} if f % 2 == 0 else {} for f in range(20)]  # live: odd frames dropped
    s = bench.summarize(gt, hyp, frames=range(0, 20, 2))
    assert s["frames"] == 10 and s["persons"]["a"]["covered_frac"] == 1.0 and s["fragmentations"] == 0


def test_runs_merge_equal_neighbours():
    assert bench.runs([(0, 1), (1, 1), (3, 1), (4, None), (5, 2)]) == [[1, 0, 3], [None, 4, 4], [2, 5, 5]]
    assert bench.runs([]) == []


def test_pose2sim_boxes_project_the_world_pose_into_each_view():
    from camerapose.core.camera import Camera

    cam = Camera(1000.0, 1000.0, 500.0, 400.0, 1000, 800, R=np.eye(3), t=np.array([0.0, 0.0, 4.0]))
    body = np.zeros((17, 3))
    body[:, 1] = np.linspace(-0.9, 0.9, 17)  # a 1.8 m tall line of joints at the world origin, 4 m away
    b = bench.project_person(body, cam)
    h = 1.8 / 4 * 1000  # 450 px tall
    pad = bench.GT_MARGIN * h
    np.testing.assert_allclose(b, [500 - pad, 400 - h / 2 - pad, 500 + pad, 400 + h / 2 + pad])
    assert bench.project_person(body + [0, 0, -6.0], cam) is None  # behind the camera
    assert bench.project_person(body + [3.0, 0, 0], cam) is None  # beside the image
    body[3:, 0] = np.nan  # joints that were not triangulated are left out
    assert bench.project_person(body, cam) is not None
    # a person-frame's rows in two views give one world pose; its box in a third view
    other = Camera(1000.0, 1000.0, 500.0, 400.0, 1000, 800, R=np.eye(3), t=np.array([0.5, 0.0, 5.0]))
    world = np.zeros((17, 3))
    world[:, 1] = np.linspace(-0.9, 0.9, 17)
    real = {"view": np.array([0, 1]), "frame": np.array([3, 3]), "person": np.array([1, 1]),
            "gt3d": np.stack([world + cam.t, world + other.t])}
    got = bench.pose2sim_world(real, [cam, other])
    assert set(got) == {(1, 3)}
    np.testing.assert_allclose(got[(1, 3)], world, atol=1e-12)
    gt = bench.pose2sim_gt(got, other, 5)
    assert [list(g) for g in gt] == [[], [], [], ["person 1"], []]


class _FakeDetector:
    """A detector that takes `cost` seconds of a fake clock per call and sees one person."""

    def __init__(self, clock: list[float], cost: float) -> None:
        self.clock, self.cost, self.calls = clock, cost, []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    def detect(self, frames, timestamps, streams=None, live=False):
        from camerapose.runtime.detect.base import Person2D

        self.calls.append((timestamps[0], live, streams))
        self.clock[0] += self.cost
        return [[Person2D(1, np.zeros((17, 2), np.float32), np.ones(17, np.float32),
                          np.array([0, 0, 10, 10], np.float32), 1.0)]]


def test_live_feeding_drops_the_frames_that_went_by_during_a_detect(monkeypatch):
    from camerapose.runtime.detect import registry

    now = [100.0]
    det = _FakeDetector(now, cost=0.07)  # 2.1 frame intervals at 30 fps

    def sleep(s: float) -> None:
        now[0] += s

    monkeypatch.setattr(registry, "create_detector", lambda cfg=None: det)
    frames = [np.zeros((4, 4, 3), np.uint8)] * 12
    hyp, done = bench.track_live(frames, 30.0, clock=lambda: now[0], sleep=sleep)
    assert done == [0, 2, 4, 6, 8, 10]
    assert [bool(h) for h in hyp] == [f in done for f in range(12)]
    assert det.calls[0][2] == ["warm-up"] and all(c[1] for c in det.calls[1:])
    assert [c[0] for c in det.calls[1:]] == pytest.approx([f / 30 for f in done])
    # a fast detector waits for each frame's time and drops none
    now[0], det.cost, det.calls = 0.0, 0.01, []
    hyp, done = bench.track_live(frames, 30.0, clock=lambda: now[0], sleep=sleep)
    assert done == list(range(12))


def test_missing_inputs_are_one_line_naming_the_fetch(tmp_path, monkeypatch):
    monkeypatch.setenv("CAMERAPOSE_CACHE", str(tmp_path))
    with pytest.raises(bench.CameraPoseError, match=r"camerapose assets fetch --mocap"):
        bench._real_inputs()
    with pytest.raises(bench.CameraPoseError, match="cannot read the labels"):
        bench.load_labels(tmp_path / "none.json")


@pytest.mark.slow
@pytest.mark.assets
def test_quick_run_reports_every_video(tmp_path, demo_video, written):
    from camerapose.assets import cache_dir
    from camerapose.real_set import OUTPUT

    if not (cache_dir() / OUTPUT).is_file():
        pytest.skip("the real set is not built: `camerapose assets fetch --mocap`")
    md, data = written(bench.run(quick=True, out_dir=tmp_path), tmp_path, ("tracking_ids.png",))
    assert "Per video" in md and "the man's identity" in md and "live at 30 fps" in md
    assert set(data["videos"]) == {"demo, offline", *(f"pose2sim cam0{i}" for i in range(1, 5))}
    assert data["quick"] is True and len(data["live"]) == 1
    demo = data["videos"]["demo, offline"]
    assert demo["frames"] == 230 and set(demo["persons"]) == {"man", "woman"}
    assert demo["checks"]["window"] == [170, 188] and demo["checks"]["window_frames"] == 19
    for v in data["videos"].values():
        assert 0 <= v["idf1"] <= 1 and v["id_switches"] >= 0
        assert all("per_frame" not in p for p in v["persons"].values())
    assert data["live"][0]["frames"] + data["live"][0]["dropped"] == 230


@pytest.mark.slow
@pytest.mark.assets
def test_each_pose2sim_view_keeps_both_people_without_a_switch_or_a_spurious_id(demo_video):
    real, cams, names, videos = bench._real_inputs()
    world = bench.pose2sim_world(real, cams)
    for name, cam, video in zip(names, cams, videos, strict=True):
        frames, fps = bench.decode(video)
        s = bench.summarize(bench.pose2sim_gt(world, cam, len(frames)), bench.track_offline(frames, fps))
        assert s["id_switches"] == 0 and not s["spurious_ids"] and len(s["hyp_ids"]) == 2, (name, s)
