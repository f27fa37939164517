"""Fixtures for the runtime tests: a real (tiny) pose ONNX with the exact contract-2 signature,
the shipped default model when it exists, free ports, and a leak check on shared memory.

The tiny model is a genuine ONNX graph run by onnxruntime: kp2d_refined = kp2d; kp3d = the 2D
pose (root-relative, x and y scaled to about 1.7 m of height) with z = 0; focal = 1.2 (normalised
screen units), center = 0, t = (0, 0, 4) m. It exercises the runtime's plumbing, not pose quality.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
DEFAULT_MODEL = REPO / "engines" / "models" / "pose_default.onnx"


def make_tiny_pose_model(path: Path) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    f32 = TensorProto.FLOAT
    W = np.zeros((34, 51), np.float32)  # flat kp2d -> flat kp3d: (x, y) -> 2.5 * (x - x_root, y - y_root)
    for j in range(17):
        for c in range(2):
            W[2 * j + c, 3 * j + c] += 2.5
            W[c, 3 * j + c] -= 2.5
    inits = [
        numpy_helper.from_array(W, "W"),
        numpy_helper.from_array(np.zeros((34, 2), np.float32), "Z2"),
        numpy_helper.from_array(np.zeros((34, 3), np.float32), "Z3"),
        numpy_helper.from_array(np.array([1.2, 1.2], np.float32), "F"),
        numpy_helper.from_array(np.array([0.0, 0.0], np.float32), "C"),
        numpy_helper.from_array(np.array([0.0, 0.0, 4.0], np.float32), "T"),
        numpy_helper.from_array(np.array([-1, 34], np.int64), "flat"),
        numpy_helper.from_array(np.array([-1, 17, 3], np.int64), "pose3"),
    ]
    nodes = [
        helper.make_node("Identity", ["kp2d"], ["kp2d_refined"]),
        helper.make_node("Reshape", ["kp2d", "flat"], ["x"]),
        helper.make_node("MatMul", ["x", "W"], ["y"]),
        helper.make_node("Reshape", ["y", "pose3"], ["kp3d"]),
        helper.make_node("MatMul", ["x", "Z2"], ["z2"]),
        helper.make_node("Add", ["z2", "F"], ["focal"]),
        helper.make_node("Add", ["z2", "C"], ["center"]),
        helper.make_node("MatMul", ["x", "Z3"], ["z3"]),
        helper.make_node("Add", ["z3", "T"], ["t"]),
    ]
    io = lambda n, *s: helper.make_tensor_value_info(n, f32, ["batch", *s])  # noqa: E731
    graph = helper.make_graph(
        nodes,
        "tiny_pose",
        [io("kp2d", 17, 2), io("conf", 17)],
        [io("kp2d_refined", 17, 2), io("kp3d", 17, 3), io("focal", 2), io("center", 2), io("t", 3)],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 10
    meta = {
        "camerapose.format": "pose/1",
        "joint_format": "h36m17",
        "normalization": "screen_long",
        "model_config": json.dumps({"tiny": True}),
        "checkpoint_sha256": "0" * 64,
    }
    for k, v in meta.items():
        model.metadata_props.append(onnx.StringStringEntryProto(key=k, value=v))
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_pose_model(tmp_path_factory.mktemp("models") / "tiny_pose.onnx")


@pytest.fixture(scope="session")
def pose_model(tiny_model: Path) -> Path:
    """The shipped default model if it has been exported, else the tiny one."""
    return DEFAULT_MODEL if DEFAULT_MODEL.is_file() else tiny_model


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_runtime(args: list[str], endpoint: str) -> subprocess.Popen:
    """`camerapose run ARGS` publishing on `endpoint`, held until a subscriber connects; output
    (stdout + stderr) as text on proc.stdout."""
    cmd = [sys.executable, "-m", "camerapose", "run", *args, "--publish", endpoint,
           "--wait-subscriber", "30", "--stats-every", "0"]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture(scope="session", autouse=True)
def private_shm_dir(tmp_path_factory: pytest.TempPathFactory):
    """Rings of this test session go to a folder of its own (in RAM where there is /dev/shm), so
    that the leak check below never counts another process's rings; child processes inherit it."""
    import os
    import shutil
    import tempfile

    base = "/dev/shm" if Path("/dev/shm").is_dir() else None
    folder = Path(tempfile.mkdtemp(prefix="cp-tests-", dir=base)) if base else \
        tmp_path_factory.mktemp("shm")
    old = os.environ.get("CAMERAPOSE_SHM_DIR")
    os.environ["CAMERAPOSE_SHM_DIR"] = str(folder)
    yield folder
    if old is None:
        os.environ.pop("CAMERAPOSE_SHM_DIR", None)
    else:
        os.environ["CAMERAPOSE_SHM_DIR"] = old
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(autouse=True)
def no_leaked_segments(private_shm_dir: Path):
    """Every runtime test must leave no shared-memory ring of its own behind."""
    from camerapose.runtime.frame_ring import leftover_segments

    before = set(leftover_segments())
    yield
    leaked = set(leftover_segments()) - before
    assert not leaked, f"shared-memory segments left behind: {sorted(map(str, leaked))}"


def unsmoothed(cfg):
    """A DetectorConfig with the tracker's One-Euro filter off (raw keypoints to compare)."""
    from dataclasses import replace

    return replace(cfg, tracker=replace(cfg.tracker, smooth=False))
