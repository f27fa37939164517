"""End to end: `camerapose run` on the demo video in --every-frame mode, read by a plain pyzmq +
msgpack subscriber written here (not our client), checked against the wire contract, while a
second subscriber that never reads stays connected (it must not stall the pipeline)."""

from __future__ import annotations

import math
import time
from collections import Counter
from pathlib import Path

import cv2
import msgpack
import numpy as np
import pytest
import zmq

from camerapose.core.skeleton import BONES, Joint

from .conftest import DEFAULT_MODEL, start_runtime

pytestmark = pytest.mark.slow  # processes, models or training: not in `make test-fast`

DEMO_FRAMES = 230


def arr(obj: dict) -> np.ndarray:
    """Decode a wire array by hand, as another language would."""
    assert obj["dtype"] == "<f4"
    return np.frombuffer(obj["data"], dtype="<f4").reshape(obj["shape"])


def run_and_collect(args: list[str], endpoint: str, timeout: float = 150.0) -> tuple[list[dict], int, str]:
    ctx = zmq.Context.instance()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"pose.")
    sub.setsockopt(zmq.RCVHWM, 100000)
    sub.connect(endpoint)
    # A subscriber that never reads: ZeroMQ must drop its messages, never stall the pipeline.
    stalled = ctx.socket(zmq.SUB)
    stalled.setsockopt(zmq.SUBSCRIBE, b"")
    stalled.setsockopt(zmq.RCVHWM, 1)
    stalled.setsockopt(zmq.RCVBUF, 4096)
    stalled.connect(endpoint)
    proc = start_runtime(args, endpoint)
    msgs = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if sub.poll(100):
                topic, payload = sub.recv_multipart()
                msg = msgpack.unpackb(payload, raw=False)
                assert topic == f"pose.{msg['stream']}".encode()
                msgs.append(msg)
            elif proc.poll() is not None:
                break
        while sub.poll(200):
            msgs.append(msgpack.unpackb(sub.recv_multipart()[1], raw=False))
        out = proc.communicate(timeout=10)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        sub.close(0)
        stalled.close(0)
    return msgs, proc.returncode, out


@pytest.mark.assets
def test_demo_video_every_frame_published_once_with_3d_and_cameras(
    demo_video: Path, pose_model: Path, port: int, tmp_path: Path
) -> None:
    video = tmp_path / "annotated.mp4"
    msgs, code, log = run_and_collect(
        ["--source", str(demo_video), "--every-frame", "--model", str(pose_model), "--annotate", str(video)],
        f"tcp://127.0.0.1:{port}",
    )
    assert code == 0, log
    # every frame exactly once, in order
    assert [m["frame"] for m in msgs] == list(range(DEMO_FRAMES)), log
    for m in msgs:
        for key in (
            "schema",
            "stream",
            "frame",
            "t_capture",
            "t_publish",
            "image_size",
            "timings",
            "persons",
        ):
            assert key in m
        assert m["schema"] == 1 and m["stream"] == "0" and m["image_size"] == [1768, 994]
        assert m["t_publish"] >= m["t_capture"] and m["timings"]["total"] >= 0
        for p in m["persons"]:
            kp3d, kp2d, conf = arr(p["kp3d"]), arr(p["kp2d"]), arr(p["conf"])
            assert kp3d.shape == (17, 3) and kp2d.shape == (17, 2) and conf.shape == (17,)
            assert np.isfinite(kp3d).all() and (kp3d[:, 2] > 0).all()
            cam = p["camera"]
            assert cam["fx"] > 0 and cam["fy"] > 0 and arr(cam["t"]).shape == (3,)
            assert math.isfinite(cam["cx"]) and math.isfinite(cam["cy"])
            assert "kp3d_teacher" not in p  # off by default
    # both people, with stable ids: two ids carry almost every detection, each over many frames
    # (measured with the BlazePose detector at writing: {1: 166, 2: 124, 3: 26} detections)
    ids = Counter(p["id"] for m in msgs for p in m["persons"])
    two = ids.most_common(2)
    assert len(two) == 2 and all(n >= 0.4 * DEMO_FRAMES for _, n in two), ids
    assert sum(n for _, n in two) >= 0.85 * sum(ids.values()) and len(ids) <= 5, ids
    # while both are in view (frames 45-165), the same two ids on every frame: no switch, no third id
    both = Counter(tuple(sorted(p["id"] for p in m["persons"])) for m in msgs if 45 <= m["frame"] <= 165)
    assert both == {tuple(sorted(i for i, _ in two)): 121}, both
    assert max(len(m["persons"]) for m in msgs) >= 2, "the demo video holds two people"
    if pose_model == DEFAULT_MODEL:  # pose quality needs the real weights
        thighs = [
            np.linalg.norm(arr(p["kp3d"])[c] - arr(p["kp3d"])[pa])
            for m in msgs
            for p in m["persons"]
            for pa, c in BONES
            if c in (Joint.RKNEE, Joint.LKNEE)
        ]
        assert 0.3 <= float(np.median(thighs)) <= 0.6, np.median(thighs)
        depths = [arr(p["camera"]["t"])[2] for m in msgs for p in m["persons"]]
        assert 1.0 < float(np.median(depths)) < 30.0, np.median(depths)
    # the annotated video holds every frame
    cap = cv2.VideoCapture(str(video))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == DEMO_FRAMES
    assert (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))) == (1768, 994)
    cap.release()


@pytest.mark.assets
def test_teacher_3d_flag_publishes_blazeposes_own_root_relative_3d(
    demo_video: Path, tiny_model: Path, port: int, tmp_path: Path
) -> None:
    """--teacher-3d on 12 frames where the man is in view: every person carries kp3d_teacher, the
    detector's world landmarks (17x3 metres, pelvis at 0, y down), beside the usual fields."""
    folder = tmp_path / "frames"
    folder.mkdir()
    cap = cv2.VideoCapture(str(demo_video))
    for i in range(16):
        _, img = cap.read()
        if i >= 4:
            cv2.imwrite(str(folder / f"{i:03d}.jpg"), img)
    cap.release()
    msgs, code, log = run_and_collect(
        ["--source", str(folder), "--every-frame", "--model", str(tiny_model), "--teacher-3d"],
        f"tcp://127.0.0.1:{port}", timeout=90.0,
    )
    assert code == 0, log
    persons = [p for m in msgs for p in m["persons"]]
    assert len(msgs) == 12 and len(persons) >= 10, log
    for p in persons:
        teacher = arr(p["kp3d_teacher"])
        assert teacher.shape == (17, 3) and np.isfinite(teacher).all()
        assert np.abs(teacher[0]).max() < 1e-6  # root-relative, unlike kp3d
        assert teacher[Joint.HEAD, 1] < 0 < teacher[Joint.RKNEE, 1]  # y down
        assert 0.8 < teacher[:, 1].max() - teacher[:, 1].min() < 2.2  # metres
