"""What the stages and the supervisor decide, one tick at a time, without processes or sockets:
live newest-wins dropping, offline order, end of input, timings and counters, heartbeat and
timeout bookkeeping, the stats lines; offline mode's media clock, where a restarted capture goes
on, which frames publish refuses or reports lost, and the state a stage saves per frame."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from camerapose.core.errors import InputError
from camerapose.core.lift_steps import Pose3D
from camerapose.runtime import graph
from camerapose.runtime.config import SupervisorConfig
from camerapose.runtime.detect.base import Person2D
from camerapose.runtime.protocol import (
    Control,
    ControlKind,
    Count,
    DetectedPerson,
    Detections,
    EndOfInput,
    FrameNotice,
    Poses,
)
from camerapose.runtime.stages.base import OfflineState, RingReader, Snapshots
from camerapose.runtime.stages.capture import resume_point
from camerapose.runtime.supervisor import (
    Child,
    Health,
    RunState,
    StageFailed,
    health,
    latency_order,
    lost_line,
    stats_line,
    summary_line,
)
from camerapose.runtime.ticks import (
    clock,
    detections,
    in_order,
    lift_items,
    pose_messages,
    publish_one,
    take_batch,
)
from camerapose.runtime.wire import schema


def note(stream: str, frame: int, t_sent: float = 0.0, prev: int | None = None) -> FrameNotice:
    return FrameNotice(stream, frame, 1, 10.0 + frame, 1.7e9, (64, 48), read_ms=2.0, t_sent=t_sent,
                       t_media=frame / 30, prev=frame - 1 if prev is None else prev)


def p2d(pid: int, world: bool = True) -> Person2D:
    return Person2D(
        pid,
        np.full((17, 2), pid, np.float32),
        np.ones(17, np.float32),
        np.array([0, 0, 10, 20], np.float32),
        0.9,
        np.zeros((17, 3), np.float32) if world else None,
    )


def pose3d() -> Pose3D:
    kp3d = np.zeros((17, 3), np.float32)
    return Pose3D(kp3d, 500.0, 500.0, 32.0, 24.0, np.array([0, 0, 3], np.float32), "predicted")


def detected(stream: str, frame: int, persons: int, t_sent: float = 10.5, t_media: float = 0.0) -> Detections:
    kp2d, conf = np.zeros((17, 2), np.float32), np.ones(17, np.float32)
    found = tuple(DetectedPerson(i, 0.9, np.zeros(4, np.float32), kp2d, conf) for i in range(persons))
    return Detections(stream, frame, 10.0, 1.7e9, (64, 48), {"capture": 1.0}, 0, found, t_sent, t_media)


# -- detect ----------------------------------------------------------------------------------------
def test_live_detect_takes_the_newest_frame_per_stream_and_counts_the_rest_dropped() -> None:
    pending = [note("a", 1), note("b", 1), note("a", 2), note("a", 3), note("b", 2)]
    batch, rest, dropped = take_batch(pending, offline=False)
    assert [(m.stream, m.frame) for m in batch] == [("a", 3), ("b", 2)]
    assert rest == [] and dropped == 3


def test_live_detect_keeps_every_end_of_input_after_the_frames() -> None:
    batch, rest, dropped = take_batch([note("a", 1), EndOfInput("a"), note("b", 1)], offline=False)
    assert batch == [note("a", 1), note("b", 1), EndOfInput("a")] and rest == [] and dropped == 0


def test_offline_detect_takes_one_frame_per_stream_in_order_and_drops_nothing() -> None:
    pending = [note("a", 1), note("a", 2), note("b", 1), note("a", 3), EndOfInput("b")]
    ticks = []
    while pending:
        batch, pending, dropped = take_batch(pending, offline=True)
        assert dropped == 0
        ticks.append([(m.stream, getattr(m, "frame", "end")) for m in batch])
    assert ticks == [[("a", 1), ("b", 1)], [("a", 2), ("b", "end")], [("a", 3)]]


def test_detections_carry_timings_drops_and_counts_and_the_3d_only_when_asked() -> None:
    notices = [note("a", 1, t_sent=10.000), note("b", 7, t_sent=10.004)]
    tick = detections(notices, [[p2d(1), p2d(2)], []], t0=10.010, t1=10.030, dropped=5, keep_3d=False)
    first, second = tick.out
    assert (first.stream, first.frame, first.dropped, second.frame) == ("a", 1, 5, 7)
    assert first.timings == {"capture": 2.0, "wait_detect": 10.0, "detect": 20.0}
    assert second.timings["wait_detect"] == 6.0
    assert [p.id for p in first.persons] == [1, 2] and second.persons == ()
    assert all(p.det3d is None for p in first.persons)
    assert tick.counts == {Count.FRAMES: 2, Count.PERSONS: 2}
    assert tick.samples["detect"] == [10.0, 10.0]  # the batch's time shared by its frames
    with_3d = detections(notices[:1], [[p2d(1)]], 10.010, 10.030, 0, keep_3d=True)
    assert with_3d.out[0].persons[0].det3d is not None


# -- lift --------------------------------------------------------------------------------------------
def test_lift_batches_every_person_of_the_tick_and_passes_end_of_input_on_in_order() -> None:
    msgs = [detected("a", 1, 2), EndOfInput("b"), detected("a", 2, 0), detected("c", 5, 1)]
    items = lift_items(msgs)
    assert [(i.stream, i.frame, i.id) for i in items] == [("a", 1, 0), ("a", 1, 1), ("c", 5, 0)]
    tick = pose_messages(msgs, [pose3d() for _ in items], t0=10.6, t1=10.62, infer_ms=12.3456)
    assert [type(m).__name__ for m in tick.out] == ["Poses", "EndOfInput", "Poses", "Poses"]
    a1, _, a2, c5 = tick.out
    assert (len(a1.persons), len(a2.persons), len(c5.persons)) == (2, 0, 1)
    assert a1.timings == {"capture": 1.0, "wait_lift": 100.0, "lift": 20.0}
    assert tick.counts == {Count.FRAMES: 3}
    assert tick.samples == {"infer": [12.346], "batch": [3]}


def test_lift_feeds_the_detector_3d_to_the_lifter_and_publishes_it_only_when_asked() -> None:
    world = np.full((17, 3), 0.5, np.float32)
    kp2d, conf = np.zeros((17, 2), np.float32), np.ones(17, np.float32)
    p = DetectedPerson(3, 0.9, np.zeros(4, np.float32), kp2d, conf, world)
    msg = Detections("a", 1, 10.0, 1.7e9, (64, 48), {}, 0, (p,), 10.5, 0.0)
    np.testing.assert_array_equal(lift_items([msg])[0].det3d, world)  # fused by the lift steps
    quiet = pose_messages([msg], [pose3d()], 10.6, 10.62, 1.0).out[0].persons[0]
    loud = pose_messages([msg], [pose3d()], 10.6, 10.62, 1.0, teacher_3d=True).out[0].persons[0]
    assert "kp3d_teacher" not in quiet and "kp3d_teacher" in loud


def test_detect_keeps_the_detector_3d_for_fusion_or_for_publishing() -> None:
    from camerapose.runtime.config import keeps_detector_3d, load_config

    assert keeps_detector_3d(load_config())  # fusion is on by default
    assert not keeps_detector_3d(load_config(sets=["lift.fusion=off"]))
    assert keeps_detector_3d(load_config(sets=["lift.fusion=off", "publish.teacher_3d=true"]))


def test_lift_without_persons_sends_empty_frames_and_no_model_samples() -> None:
    tick = pose_messages([detected("a", 1, 0)], [], 10.6, 10.61, 0.0)
    assert len(tick.out) == 1 and tick.out[0].persons == () and "infer" not in tick.samples


def test_lift_refuses_a_pose_count_that_does_not_match_the_persons() -> None:
    with pytest.raises(ValueError, match="1 poses"):
        pose_messages([detected("a", 1, 2)], [pose3d()], 10.6, 10.61, 0.0)


# -- publish -----------------------------------------------------------------------------------------
def test_publish_adds_the_last_timings_and_samples_each_one() -> None:
    persons = (schema.person(1, 0.9, np.zeros(4), np.zeros((17, 2)), np.ones(17), np.zeros((17, 3)),
                             500, 500, 32, 24, np.array([0, 0, 3])),)
    timings = {"capture": 1.0, "wait_detect": 2.0, "detect": 3.0, "wait_lift": 4.0, "lift": 5.0}
    m = Poses("cam", 9, 10.0, 1.7e9, (64, 48), timings, 2, persons, t_sent=10.02)
    tick = publish_one(m, now=10.05)
    msg = schema.decode(tick.out[0].payload)
    assert (msg["stream"], msg["frame"], msg["t_publish"], msg["dropped"]) == ("cam", 9, 10.05, 2)
    assert list(msg["timings"]) == ["capture", "wait_detect", "detect", "wait_lift", "lift", "wait_publish",
                                    "total"]
    assert msg["timings"]["wait_publish"] == 30.0 and msg["timings"]["total"] == 50.0
    assert tick.counts == {Count.FRAMES: 1, Count.PERSONS: 1}
    assert tick.samples["total"] == [50.0] and tick.samples["capture"] == [1.0]


# -- supervisor ----------------------------------------------------------------------------------------
def state() -> RunState:
    specs = [
        graph.StageSpec("publish", "publish", ("poses",), ()),
        graph.StageSpec("lift", "lift", ("persons",), ("poses",)),
        graph.StageSpec("detect", "detect", ("frames",), ("persons",)),
        graph.StageSpec("capture:cam", "capture", (), ("frames",), stream="cam"),
    ]
    return RunState({s.name: Child(s, proc=SimpleNamespace(pid=100 + i)) for i, s in enumerate(specs)})


def hb(stage: str, pid: int, counters: dict, samples: dict | None = None) -> Control:
    return Control(ControlKind.HEARTBEAT, stage, pid, counters=counters, samples=samples or {})


def test_ready_and_heartbeats_update_the_stage_and_keep_only_publish_and_lift_model_samples() -> None:
    s = state()
    s.on_control(Control(ControlKind.READY, "lift", 101, backend="onnxruntime"), now=5.0)
    s.on_control(Control(ControlKind.READY, "detect", 102), now=5.5)
    s.on_control(hb("publish", 100, {"frames": 3}, {"total": [40.0], "lift": [5.0]}), now=6.0)
    s.on_control(hb("lift", 101, {"frames": 3}, {"infer": [4.0], "batch": [2], "lift": [9.0]}), now=6.0)
    s.on_control(hb("detect", 102, {"frames": 3}, {"detect": [7.0]}), now=6.0)
    lift = s.children["lift"]
    assert lift.ready and lift.last_seen == 6.0 and s.backend == "onnxruntime"
    assert dict(s.window.samples) == {"total": [40.0], "lift": [5.0], "infer": [4.0], "batch": [2]}
    assert s.totals.samples == s.window.samples
    assert s.children["publish"].counters == {"frames": 3}


def test_messages_from_a_previous_life_or_an_unknown_stage_are_ignored() -> None:
    s = state()
    s.on_control(Control(ControlKind.READY, "lift", 999), now=5.0)
    s.on_control(Control(ControlKind.READY, "nobody", 101), now=5.0)
    assert not s.children["lift"].ready and s.children["lift"].last_seen == 0.0


def test_fatal_keeps_the_error_class_and_end_of_input_and_subscriber_are_noted() -> None:
    s = state()
    s.on_control(Control(ControlKind.END_OF_INPUT, "publish", 100, stream="cam"), 1.0)
    s.on_control(Control(ControlKind.SUBSCRIBER, "publish", 100, subscribers=1), 1.0)
    assert s.ended == {"cam"} and s.subscribed and s.error is None
    s.on_control(Control.fatal("capture:cam", 103, InputError("cam.mp4: no such file")), 2.0)
    assert type(s.error) is InputError and str(s.error) == "cam.mp4: no such file"
    s.on_control(Control(ControlKind.FATAL, "lift", 101, error="odd", error_kind="KeyError"), 3.0)
    assert type(s.error) is StageFailed  # not a CameraPoseError name: reported as the stage's failure


def test_health_gives_a_loading_stage_the_start_timeout_and_a_ready_one_the_heartbeat_timeout() -> None:
    sup = SupervisorConfig(heartbeat_timeout_s=5.0, start_timeout_s=60.0)
    s = state()
    lift = s.children["lift"]
    assert health(lift, None, now=30.0, sup=sup, ended=set()) is Health.OK  # still loading its model
    assert health(lift, None, now=61.0, sup=sup, ended=set()) is Health.HUNG
    s.on_control(Control(ControlKind.READY, "lift", 101), now=61.0)
    assert health(lift, None, now=65.0, sup=sup, ended=set()) is Health.OK
    assert health(lift, None, now=66.5, sup=sup, ended=set()) is Health.HUNG
    s.on_control(hb("lift", 101, {}), now=66.0)
    assert health(lift, None, now=66.5, sup=sup, ended=set()) is Health.OK
    assert health(lift, -9, now=66.5, sup=sup, ended=set()) is Health.DEAD


def test_a_capture_that_exited_after_its_stream_ended_is_finished_not_dead() -> None:
    sup = SupervisorConfig()
    cap = state().children["capture:cam"]
    assert health(cap, 0, now=1.0, sup=sup, ended={"cam"}) is Health.FINISHED
    assert health(cap, 0, now=1.0, sup=sup, ended=set()) is Health.DEAD
    assert health(cap, 1, now=1.0, sup=sup, ended={"cam"}) is Health.DEAD


def test_counters_add_up_over_stages_and_every_life_of_a_restarted_stage() -> None:
    s = state()
    s.on_control(hb("publish", 100, {"frames": 10, "persons": 15, "garbage": 1}), 1.0)
    s.on_control(hb("detect", 102, {"frames": 11, "dropped": 2, "corrupt": 1}), 1.0)
    s.on_control(hb("capture:cam", 103, {"frames": 14, "dropped": 1, "queue_full": 2, "corrupt": 1}), 1.0)
    detect = s.children["detect"]
    detect.new_life()
    detect.restarts, detect.proc = 1, SimpleNamespace(pid=200)
    s.on_control(hb("detect", 102, {"dropped": 50}), 2.0)  # the dead life: ignored
    s.on_control(hb("detect", 200, {"frames": 3, "dropped": 1}), 2.0)  # no "corrupt" yet: 1 kept
    assert s.counters() == {"published": 10, "persons": 15, "garbage": 1, "dropped": 3 + 3, "corrupt": 2,
                            "restarts": 1, "lost": 0}


def test_stats_line_lists_percentiles_in_pipeline_order_then_the_rest() -> None:
    samples = {"total": [10.0, 20.0, 30.0], "batch": [2], "infer": [3.0], "capture": [1.0, 3.0], "lift": []}
    assert latency_order(samples) == ["capture", "lift", "total", "batch", "infer"]
    line = stats_line({"published": 20, "dropped": 4, "corrupt": 0, "persons": 30}, 10, 2.0, samples)
    assert line == ("5.0 fps  dropped 4  corrupt 0  persons/frame 1.5  ms p50/p95: capture 2.0/2.9  "
                    "total 20.0/29.0  batch 2.0/2.0  infer 3.0/3.0")
    assert stats_line({}, 0, 1.0, {}).endswith("ms p50/p95: -")


def test_summary_line_gives_the_median_glass_to_publish_and_says_when_it_includes_queueing() -> None:
    tot = {"published": 3, "dropped": 0, "corrupt": 0, "restarts": 1}
    line = summary_line(tot, {"total": [10.0, 12.0, 40.0]}, offline=True)
    assert line == ("done: 3 frames published, 0 dropped, 0 corrupt, 1 restarts; glass-to-publish p50 "
                    "12.0 ms (offline: includes queueing)")
    assert math.isnan(float(summary_line({}, {}, offline=False).split("p50 ")[1].split(" ")[0]))


# -- offline mode: the media clock ---------------------------------------------------------------------
def test_offline_stages_clock_filters_with_the_frames_time_in_the_video_live_ones_with_capture_time() -> None:
    slow, fast = note("a", 30), replace(note("a", 30), t_capture=99.0, t_wall=2e9, t_sent=98.0)
    assert clock(slow, offline=True) == clock(fast, offline=True) == 1.0  # frame 30 at 30 fps
    assert (clock(slow, offline=False), clock(fast, offline=False)) == (40.0, 99.0)
    msgs = [detected("a", 3, 2, t_media=0.1), detected("a", 4, 1, t_media=0.2)]
    again = [replace(m, t_capture=m.t_capture + 5.0, t_sent=m.t_sent + 5.0) for m in msgs]
    items, items_again = lift_items(msgs, offline=True), lift_items(again, offline=True)
    assert [i.t for i in items] == [i.t for i in items_again] == [0.1, 0.1, 0.2]
    assert [i.t for i in lift_items(again)] == [15.0, 15.0, 15.0]  # live: capture time


def test_detections_are_sorted_by_id_and_carry_the_media_time_and_prev_on() -> None:
    tick = detections([note("a", 4)], [[p2d(7), p2d(2), p2d(5)]], 10.0, 10.1, 0, keep_3d=False)
    (d,) = tick.out
    assert [p.id for p in d.persons] == [2, 5, 7]
    assert (d.t_media, d.prev) == (4 / 30, 3)
    poses = pose_messages(tick.out, [pose3d()] * 3, 10.2, 10.3, 1.0).out[0]
    assert [p["id"] for p in poses.persons] == [2, 5, 7] and (poses.t_media, poses.prev) == (4 / 30, 3)


def test_the_published_message_carries_the_sources_rate_and_the_frames_time_in_it() -> None:
    tick = detections([replace(note("a", 4), fps=29.97)], [[p2d(2)]], 10.0, 10.1, 0, keep_3d=False)
    poses = pose_messages(tick.out, [pose3d()], 10.2, 10.3, 1.0).out[0]
    msg = schema.decode(publish_one(poses, 10.4).out[0].payload)
    assert (msg["fps"], msg["t_media"]) == (29.97, 4 / 30)  # note() sets t_media = frame / 30


def test_a_frame_the_detector_refuses_is_skipped_not_lost_the_next_frame_carries_its_prev() -> None:
    skipped: dict[str, int] = {}
    tick = detections([note("a", 4), note("b", 9)], [None, []], 10.0, 10.1, 0, False, skipped)
    assert [m.frame for m in tick.out] == [9] and tick.counts[Count.CORRUPT] == 1
    tick = detections([note("a", 5)], [None], 10.2, 10.3, 0, False, skipped)  # two refused in a row
    tick = detections([note("a", 6)], [[]], 10.4, 10.5, 0, False, skipped)
    assert tick.out[0].prev == 3 and skipped == {}  # the frame before the two refused ones
    assert in_order(3, replace(poses_of(tick.out[0]), frame=6)) == (True, None)


# -- offline mode: exactly once ---------------------------------------------------------------------------
def poses_of(d: Detections) -> Poses:
    return Poses(d.stream, d.frame, d.t_capture, d.t_wall, d.size, d.timings, d.dropped, (), prev=d.prev)


def pose_msg(frame: int, prev: int) -> Poses:
    return Poses("a", frame, 10.0, 1.7e9, (64, 48), {}, 0, (), prev=prev)


def test_publish_publishes_each_frame_once_in_order_and_names_a_gap_as_lost() -> None:
    assert in_order(-1, pose_msg(0, -1)) == (True, None)  # the first frame
    assert in_order(4, pose_msg(5, 4)) == (True, None)
    assert in_order(4, pose_msg(7, 4)) == (True, None)  # 5 and 6 skipped as unreadable: not lost
    assert in_order(4, pose_msg(4, 3)) == (False, None)  # published already: never twice
    assert in_order(4, pose_msg(2, 1)) == (False, None)
    assert in_order(4, pose_msg(9, 8)) == (True, (5, 8))  # 5..8 were read but never got here
    assert in_order(4, EndOfInput("a", 4)) == (False, None)
    assert in_order(4, EndOfInput("a", 6)) == (False, (5, 6))  # the end came, frames 5, 6 did not


def test_a_restarted_capture_rereads_what_was_not_published_or_says_it_lost_it() -> None:
    # offline, a file or folder: again from the frame after the last published one
    assert resume_point(published=12, newest=19, seekable=True, offline=True) == (13, 12)
    # a URL or camera cannot go back: on after the newest, and 13..19 are lost (prev = 19)
    assert resume_point(published=12, newest=19, seekable=False, offline=True) == (20, 19)
    assert in_order(12, pose_msg(20, 19)) == (True, (13, 19))
    # live mode never goes back
    assert resume_point(published=12, newest=19, seekable=True, offline=False) == (20, 19)


def test_a_stage_goes_on_from_its_state_saved_at_the_last_published_frame(tmp_path: Path) -> None:
    snaps = Snapshots(tmp_path, "lift")
    for frame in range(5):
        snaps.save("a", frame, {"frame": frame, "arr": np.arange(frame)})
    snaps.save("b", 0, "b0")
    snaps.forget_before("a", 2)  # publish is at frame 2: 0 and 1 are no longer needed
    assert sorted(p.name for p in (tmp_path / "state").iterdir()) == [
        "lift.a.2.state", "lift.a.3.state", "lift.a.4.state", "lift.b.0.state"]
    again = Snapshots(tmp_path, "lift")  # the restarted stage
    state = again.resume("a", 2)
    assert state["frame"] == 2 and state["arr"].tolist() == [0, 1]
    assert sorted(p.name for p in (tmp_path / "state").iterdir()) == ["lift.a.2.state", "lift.b.0.state"]
    assert again.resume("a", -1) is None  # nothing published yet: start afresh
    assert Snapshots(tmp_path, "detect").resume("b", 0) is None  # another stage's files are not its own


def test_lost_frames_are_counted_named_in_the_summary_and_the_end_of_input_line() -> None:
    s = state()
    s.on_control(Control(ControlKind.LOST, "publish", 100, stream="cam", first=5, last=8), 1.0)
    s.on_control(Control(ControlKind.LOST, "publish", 100, stream="cam", first=20, last=20), 1.0)
    s.on_control(Control(ControlKind.LOST, "publish", 999, stream="cam", first=30, last=31), 1.0)  # old life
    assert s.lost == {"cam": [(5, 8), (20, 20)]} and s.counters()["lost"] == 5
    assert lost_line(s.lost) == "frames lost, never published: cam 5-8, cam 20"
    assert "0 corrupt, 5 LOST, 0 restarts" in summary_line(s.counters(), {}, offline=True)


def test_the_published_count_at_the_end_comes_from_the_rings_not_the_last_heartbeats() -> None:
    s = state()
    s.on_control(hb("publish", 100, {"frames": 57}), 1.0)  # then killed before its next heartbeat
    assert s.counters()["published"] == 57
    s.published = 60  # what the rings counted, read when the run ends
    assert s.counters()["published"] == 60


def test_the_rings_mark_of_the_last_published_frame_survives_a_new_ring() -> None:
    import secrets

    from camerapose.runtime.frame_ring import FrameRing
    from camerapose.runtime.stages.capture import _new_ring

    name = f"camerapose-test-{secrets.token_hex(4)}"
    ring = FrameRing.create(name, slots=4, slot_bytes=16, first_index=10)
    assert (ring.published, ring.published_count) == (9, 0)  # nothing published yet
    for frame in (10, 11, 13):
        ring.mark_published(frame)
    bigger = _new_ring(ring, name, 4, 64, first=14)  # frames of another size: a ring of its own
    try:
        assert (bigger.published, bigger.published_count, bigger.released) == (13, 3, 13)
    finally:
        bigger.unlink()
        bigger.close()


def test_a_stage_saves_its_state_even_while_its_streams_ring_is_gone(tmp_path: Path) -> None:
    class Owner:  # the stream_state / restore_stream pair a detector or lifter has
        def __init__(self) -> None:
            self.restored: dict[str, object] = {}

        def stream_state(self, stream: str) -> dict[str, str]:
            return {"stream": stream}

        def restore_stream(self, stream: str, state: object) -> None:
            self.restored[stream] = state

    rings = RingReader("no-such-run")  # a ring that is not (or no longer) there: ring() is None
    saved = OfflineState(tmp_path, "lift", rings, Owner())
    saved.begin("a")  # nothing published: starts afresh
    saved.done("a", 0)  # once crashed reading None.published
    assert (tmp_path / "state" / "lift.a.0.state").is_file()
    again = Owner()
    OfflineState(tmp_path, "lift", rings, again).begin("a")
    assert again.restored == {}  # mark -1: nothing to go on from, every file of the stream removed
