"""What the stages and the supervisor decide, one tick at a time, without processes or sockets:
live newest-wins dropping, offline order, end of input, timings and counters, heartbeat and
timeout bookkeeping, the stats lines."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from camerapose.core.errors import InputError
from camerapose.runtime import graph
from camerapose.runtime.config import SupervisorConfig
from camerapose.runtime.detect.base import Person2D
from camerapose.runtime.lift import Pose3D
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
from camerapose.runtime.stages.detect import detections, take_batch
from camerapose.runtime.stages.lift import lift_items, pose_messages
from camerapose.runtime.stages.publish import publish_one
from camerapose.runtime.supervisor import (
    Child,
    Health,
    RunState,
    StageFailed,
    health,
    latency_order,
    stats_line,
    summary_line,
)
from camerapose.runtime.wire import schema


def note(stream: str, frame: int, t_sent: float = 0.0) -> FrameNotice:
    return FrameNotice(stream, frame, 1, 10.0 + frame, 1.7e9, (64, 48), read_ms=2.0, t_sent=t_sent)


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
    return Pose3D(kp3d, kp3d[:, :2], 500.0, 500.0, 32.0, 24.0, np.array([0, 0, 3], np.float32), "predicted")


def detected(stream: str, frame: int, persons: int, t_sent: float = 10.5) -> Detections:
    kp2d, conf = np.zeros((17, 2), np.float32), np.ones(17, np.float32)
    found = tuple(DetectedPerson(i, 0.9, np.zeros(4, np.float32), kp2d, conf) for i in range(persons))
    return Detections(stream, frame, 10.0, 1.7e9, (64, 48), {"capture": 1.0}, 0, found, t_sent)


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
    tick = detections(notices, [[p2d(1), p2d(2)], []], t0=10.010, t1=10.030, dropped=5, teacher_3d=False)
    first, second = tick.out
    assert (first.stream, first.frame, first.dropped, second.frame) == ("a", 1, 5, 7)
    assert first.timings == {"capture": 2.0, "wait_detect": 10.0, "detect": 20.0}
    assert second.timings["wait_detect"] == 6.0
    assert [p.id for p in first.persons] == [1, 2] and second.persons == ()
    assert all(p.world is None for p in first.persons)
    assert tick.counts == {Count.FRAMES: 2, Count.PERSONS: 2}
    assert tick.samples["detect"] == [10.0, 10.0]  # the batch's time shared by its frames
    with_3d = detections(notices[:1], [[p2d(1)]], 10.010, 10.030, 0, teacher_3d=True)
    assert with_3d.out[0].persons[0].world is not None


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
                            "restarts": 1}


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
