"""`camerapose convert`: BVH, TRC, C3D, CSV, JSON lines and npz written from pose messages, each read
back by an independent reader (bvhio for BVH, the text for TRC, ezc3d for C3D) and compared with the
3D poses the messages were built from; the floor fit of --world; clear one-line errors.

The synthetic clip: two people (ids 7 and 9, stream "cam0") walking with constant bone lengths,
seen by a camera 1.6 m above the floor pitched 10 degrees down; id 7 is missing in frames 20-24.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import sys
from pathlib import Path

import msgpack
import numpy as np
import pytest

from camerapose.cli import main
from camerapose.core.skeleton import (
    BONES,
    MEAN_BONE_LENGTHS,
    NUM_JOINTS,
    PARENTS,
    Joint,
    bone_lengths,
    with_bone_lengths,
)
from camerapose.runtime.files.messages import read_messages
from camerapose.runtime.files.tracks import JOINT_NAMES
from camerapose.runtime.wire.record import MAGIC
from camerapose.runtime.wire.schema import SCHEMA_VERSION, decode, pack, person, to_json, topic

REPO = Path(__file__).resolve().parents[2]
DEMO_RECORDING = REPO / "tests" / "data" / "demo_two_people.cprec"  # 80 frames of the demo video run
FPS = 30.0
FRAMES = 60
GAP = range(20, 25)  # frames where id 7 is not seen
HEIGHT, PITCH = 1.6, np.radians(10.0)
ANKLE = 0.07  # the floor fit puts the floor this far below the ankles (ground.ANKLE_HEIGHT_M)
Y_UP = np.diag([1.0, -1.0, -1.0])  # camera frame -> the upright camera frame of BVH, TRC and C3D

# A standing person, y up, facing +z (its right is -x): each joint's direction from its parent.
STAND = {
    Joint.RHIP: (-1, 0, 0), Joint.RKNEE: (0, -1, 0), Joint.RFOOT: (0, -1, 0),
    Joint.LHIP: (1, 0, 0), Joint.LKNEE: (0, -1, 0), Joint.LFOOT: (0, -1, 0),
    Joint.SPINE: (0, 1, 0), Joint.THORAX: (0, 1, 0), Joint.NECK: (0, 1, 0.2), Joint.HEAD: (0, 1, 0),
    Joint.LSHOULDER: (1, 0.1, 0), Joint.LELBOW: (0.3, -1, 0), Joint.LWRIST: (0.1, -1, 0.5),
    Joint.RSHOULDER: (-1, 0.1, 0), Joint.RELBOW: (-0.3, -1, 0), Joint.RWRIST: (-0.1, -1, 0.5),
}


def walk(seed: int, start: tuple[float, float], heading: float, scale: float) -> np.ndarray:
    """(FRAMES, 17, 3) world poses (y up, metres), bones of constant length: the limbs swing, the
    body turns and walks; the lower ankle of every frame stands ANKLE above the floor (y = 0)."""
    rng = np.random.default_rng(seed)
    t = np.arange(FRAMES) / FPS
    lengths = scale * np.array(MEAN_BONE_LENGTHS)
    pose = np.zeros((FRAMES, NUM_JOINTS, 3))
    for b, (parent, child) in enumerate(BONES):
        wobble = 0.5 * np.sin(2 * np.pi * rng.uniform(0.3, 1.2, 3) * t[:, None] + rng.uniform(0, 6, 3))
        d = np.array(STAND[child], float) + wobble
        pose[:, child] = pose[:, parent] + lengths[b] * d / np.linalg.norm(d, axis=1, keepdims=True)
    yaw = heading + 0.8 * np.sin(t)  # the body turns as it goes
    c, s = np.cos(yaw)[:, None], np.sin(yaw)[:, None]
    x, z = pose[..., 0].copy(), pose[..., 2].copy()
    pose[..., 0], pose[..., 2] = c * x + s * z, -s * x + c * z
    pose[..., 0] += start[0] + 0.8 * t[:, None] * np.cos(heading)
    pose[..., 2] += start[1] + 0.8 * t[:, None] * np.sin(heading)
    lowest = np.minimum(pose[:, Joint.RFOOT, 1], pose[:, Joint.LFOOT, 1])
    pose[..., 1] += (ANKLE - lowest)[:, None]
    return pose


def camera_rotation() -> np.ndarray:
    """Rows: the camera's x (right), y (down), z (forward) in world axes; it looks toward -z."""
    s, c = np.sin(PITCH), np.cos(PITCH)
    return np.array([[1.0, 0, 0], [0, -c, s], [0, -s, -c]])


def to_camera(world: np.ndarray) -> np.ndarray:
    return (world - np.array([0.0, HEIGHT, 0.0])) @ camera_rotation().T


WORLD = {7: walk(1, (-1.0, -4.0), 0.3, 1.0), 9: walk(2, (0.8, -6.0), 2.5, 0.92)}
CAMERA = {pid: to_camera(w) for pid, w in WORLD.items()}


def seen(pid: int) -> np.ndarray:
    return np.array([not (pid == 7 and f in GAP) for f in range(FRAMES)])


def payloads() -> list[bytes]:
    """The clip as wire messages (msgpack payloads), one per frame."""
    out = []
    for f in range(FRAMES):
        persons = []
        for pid, kp3d in CAMERA.items():
            if not seen(pid)[f]:
                continue
            X = kp3d[f]
            uv = 1000 * X[:, :2] / X[:, 2:] + np.array([640.0, 360.0])
            conf = np.full(17, 0.8)
            persons.append(person(pid, 0.9, np.zeros(4), uv, conf, X, 1000.0, 1000.0, 640.0, 360.0, X[0]))
        t = 100.0 + f / FPS
        persons.sort(key=lambda p: p["id"])
        msg = {"schema": SCHEMA_VERSION, "stream": "cam0", "frame": f, "t_capture": t, "t_publish": t + 0.02,
               "t_wall": 1.7e9 + t, "image_size": [1280, 720], "timings": {"total": 20.0}, "dropped": 0,
               "persons": persons}
        out.append(pack(msg))
    return out


def write_recording(path: Path, items: list[bytes]) -> Path:
    with open(path, "wb") as f:
        f.write(MAGIC)
        for i, payload in enumerate(items):
            f.write(msgpack.packb([i / FPS, topic("cam0"), payload], use_bin_type=True))
    return path


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_recording(tmp_path_factory.mktemp("clip") / "clip.cprec", payloads())


def convert(*argv: str) -> int:
    return main(["convert", *argv, "-q"])


def upright(pid: int) -> np.ndarray:
    """The person's true joints in the axes BVH, TRC and C3D use without --world."""
    return CAMERA[pid] @ Y_UP.T


def test_the_clip_really_has_constant_bones_and_a_moving_root() -> None:
    for pose in WORLD.values():
        assert np.ptp(bone_lengths(pose), axis=0).max() < 1e-9
        assert np.linalg.norm(pose[-1, 0] - pose[0, 0]) > 1.0


def test_bvh_read_by_bvhio_gives_back_the_joints_and_bone_lengths(clip: Path, tmp_path: Path) -> None:
    bvhio = pytest.importorskip("bvhio")
    assert convert(str(clip), "--to", "bvh", "--out", str(tmp_path)) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip_cam0_id7.bvh", "clip_cam0_id9.bvh"]
    for pid in (7, 9):
        path = tmp_path / f"clip_cam0_id{pid}.bvh"
        container = bvhio.readAsBvh(str(path))
        assert container.FrameCount == FRAMES  # the gap's frames are there too (interpolated)
        assert container.FrameTime == pytest.approx(1 / FPS, rel=1e-4)
        root = bvhio.readAsHierarchy(str(path))
        joints = {j.Name: j for j, _, _ in root.layout()}
        assert set(JOINT_NAMES) <= set(joints)
        truth = upright(pid)
        true_bones = bone_lengths(truth[0])
        for f in range(FRAMES):
            root.loadPose(f, recursive=True)
            got = np.array([list(joints[name].PositionWorld) for name in JOINT_NAMES])
            if seen(pid)[f]:
                np.testing.assert_allclose(got, truth[f], atol=0.01)
            np.testing.assert_allclose(bone_lengths(got), true_bones, atol=0.01)


def test_bvh_rest_pose_is_a_t_pose_and_the_angles_move_smoothly(clip: Path, tmp_path: Path) -> None:
    assert convert(str(clip), "--to", "bvh", "--out", str(tmp_path)) == 0
    text = (tmp_path / "clip_cam0_id9.bvh").read_text()
    hierarchy, motion = text.split("MOTION")
    offsets = {}
    name = None
    for line in hierarchy.splitlines():
        words = line.split()
        if words and words[0] in ("ROOT", "JOINT"):
            name = words[1]
        elif words and words[0] == "OFFSET" and name is not None:
            offsets[name] = np.array([float(v) for v in words[1:]])
            name = None
    assert offsets["LElbow"][0] > 0.2 and abs(offsets["LElbow"][1]) < 1e-9  # the left arm points +x
    assert offsets["RKnee"][1] < -0.3 and abs(offsets["RKnee"][0]) < 1e-9  # legs point down
    rows = np.array([[float(v) for v in line.split()] for line in motion.splitlines()[3:]])
    assert rows.shape == (FRAMES, 3 + 3 * 23)
    steps = np.abs(np.diff(rows[:, 3:], axis=0))
    assert steps.max() < 25.0, "no flips: a joint's angles change by less than 25 degrees per frame"


def parse_trc(path: Path) -> tuple[list[str], list[str], list[str], list[list[str]]]:
    lines = path.read_text().split("\n")
    return lines[1].split("\t"), lines[2].split("\t"), lines[3].split("\t"), [
        line.split("\t") for line in lines[6:] if line
    ]


def test_trc_is_millimetres_y_up_with_nan_cells_in_the_gap(clip: Path, tmp_path: Path) -> None:
    assert convert(str(clip), "--to", "trc", "--out", str(tmp_path)) == 0
    keys, values, names, rows = parse_trc(tmp_path / "clip_cam0_id7.trc")
    header = dict(zip(keys, values, strict=True))
    assert float(header["DataRate"]) == pytest.approx(FPS, rel=1e-4)
    assert float(header["CameraRate"]) == pytest.approx(FPS, rel=1e-4)
    assert (header["Units"], header["NumMarkers"], header["NumFrames"]) == ("mm", "17", str(FRAMES))
    assert [n for n in names[2:] if n] == list(JOINT_NAMES)
    assert len(rows) == FRAMES
    truth = upright(7) * 1000
    for f, row in enumerate(rows):
        assert int(row[0]) == f + 1 and float(row[1]) == pytest.approx(f / FPS, abs=1e-5)
        cells = row[2:]
        assert len(cells) == 3 * NUM_JOINTS
        if f in GAP:
            assert cells == ["NaN"] * (3 * NUM_JOINTS)
        else:
            np.testing.assert_allclose(np.array(cells, float).reshape(17, 3), truth[f], atol=10.0)


def test_c3d_read_by_ezc3d_gives_back_the_joints_and_marks_the_gap_invalid(
    clip: Path, tmp_path: Path
) -> None:
    ezc3d = pytest.importorskip("ezc3d")
    assert convert(str(clip), "--to", "c3d", "--out", str(tmp_path)) == 0
    c3d = ezc3d.c3d(str(tmp_path / "clip_cam0_id7.c3d"))
    assert c3d["parameters"]["POINT"]["LABELS"]["value"] == list(JOINT_NAMES)
    assert c3d["parameters"]["POINT"]["UNITS"]["value"] == ["mm"]
    assert c3d["header"]["points"]["frame_rate"] == pytest.approx(FPS, rel=1e-4)
    points = c3d["data"]["points"]  # (4, 17, frames)
    assert points.shape == (4, NUM_JOINTS, FRAMES)
    residuals = c3d["data"]["meta_points"]["residuals"][0]
    truth = upright(7) * 1000
    for f in range(FRAMES):
        if f in GAP:
            assert (residuals[:, f] < 0).all() and np.isnan(points[:3, :, f]).all()
        else:
            assert (residuals[:, f] >= 0).all()
            np.testing.assert_allclose(points[:3, :, f].T, truth[f], atol=10.0)


def test_c3d_without_ezc3d_is_a_one_line_error(
    clip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "ezc3d", None)  # import ezc3d now raises ImportError
    assert convert(str(clip), "--to", "c3d", "--out", str(tmp_path)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "needs ezc3d" in err[0] and "pip install" in err[0]
    assert list(tmp_path.iterdir()) == []


def test_csv_has_a_row_per_frame_seen_in_the_camera_frame(clip: Path, tmp_path: Path) -> None:
    assert convert(str(clip), "--to", "csv", "--out", str(tmp_path)) == 0
    with open(tmp_path / "clip_cam0_id7.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["frame"]) for r in rows] == [f for f in range(FRAMES) if f not in GAP]
    assert {r["stream"] for r in rows} == {"cam0"} and {r["id"] for r in rows} == {"7"}
    for r in rows:
        got = np.array([[float(r[f"{name}_{c}"]) for c in "xyz"] for name in JOINT_NAMES])
        np.testing.assert_allclose(got, CAMERA[7][int(r["frame"])], atol=1e-4)
        assert float(r["t"]) == pytest.approx(100 + int(r["frame"]) / FPS, abs=1e-5)
        assert float(r["fx"]) == 1000.0 and float(r["Head_conf"]) == pytest.approx(0.8)


def test_jsonl_per_track_is_read_back_by_convert_as_the_same_messages(clip: Path, tmp_path: Path) -> None:
    assert convert(str(clip), "--to", "jsonl", "--out", str(tmp_path)) == 0
    msgs = list(read_messages(tmp_path / "clip_cam0_id9.jsonl"))
    assert [m["frame"] for m in msgs] == list(range(FRAMES))
    for m in msgs:
        assert [p["id"] for p in m["persons"]] == [9]
        np.testing.assert_allclose(m["persons"][0]["kp3d"], CAMERA[9][m["frame"]], atol=1e-4)
    again = tmp_path / "again"
    assert convert(str(tmp_path / "clip_cam0_id9.jsonl"), "--to", "trc", "--out", str(again)) == 0
    assert (again / "clip_cam0_id9_cam0_id9.trc").is_file()


def test_npz_holds_every_row_with_its_arrays(clip: Path, tmp_path: Path) -> None:
    assert convert(str(clip), "--to", "npz", "--out", str(tmp_path)) == 0
    with np.load(tmp_path / "clip_cam0_id7.npz") as z:
        assert z["kp3d"].shape == (FRAMES - len(GAP), NUM_JOINTS, 3)
        assert list(z["frame"]) == [f for f in range(FRAMES) if f not in GAP]
        assert list(z["joint_names"]) == list(JOINT_NAMES) and str(z["axes"]) == "camera"
        np.testing.assert_allclose(z["kp3d"][0], CAMERA[7][0], atol=1e-5)


def test_world_puts_the_floor_at_zero_under_the_feet(clip: Path, tmp_path: Path) -> None:
    assert convert(str(clip), "--to", "csv", "--world", "--out", str(tmp_path)) == 0
    for pid in (7, 9):
        with open(tmp_path / f"clip_cam0_id{pid}.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        got = np.array([[[float(r[f"{n}_{c}"]) for c in "xyz"] for n in JOINT_NAMES] for r in rows])
        # The world axes: y up, floor at 0, origin under the camera, x the camera's right: the truth.
        np.testing.assert_allclose(got, WORLD[pid][seen(pid)], atol=0.01)


def test_world_bvh_and_trc_are_in_the_same_world_axes(clip: Path, tmp_path: Path) -> None:
    assert convert(str(clip), "--to", "trc", "--world", "--out", str(tmp_path)) == 0
    _, _, _, rows = parse_trc(tmp_path / "clip_cam0_id9.trc")
    got = np.array([row[2:] for row in rows], float).reshape(FRAMES, 17, 3) / 1000
    np.testing.assert_allclose(got, WORLD[9], atol=0.01)


def test_streams_can_be_picked_and_a_missing_one_is_named(
    clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert convert(str(clip), "--to", "csv", "--stream", "cam0", "--out", str(tmp_path)) == 0
    assert len(list(tmp_path.glob("*.csv"))) == 2
    assert convert(str(clip), "--to", "csv", "--stream", "cam1", "--out", str(tmp_path)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no stream 'cam1'" in err[0] and "cam0" in err[0]


def test_fps_flag_sets_the_frame_time(clip: Path, tmp_path: Path) -> None:
    assert convert(str(clip), "--to", "bvh", "--fps", "25", "--out", str(tmp_path)) == 0
    assert "Frame Time: 0.04000000" in (tmp_path / "clip_cam0_id7.bvh").read_text()


def test_json_lines_from_subscribe_convert_like_the_recording(clip: Path, tmp_path: Path) -> None:
    lines = tmp_path / "poses.jsonl"
    lines.write_text("".join(json.dumps(to_json(decode(p))) + "\n" for p in payloads()))
    assert convert(str(lines), "--to", "trc", "--out", str(tmp_path / "a")) == 0
    assert convert(str(clip), "--to", "trc", "--out", str(tmp_path / "b")) == 0
    a = parse_trc(tmp_path / "a" / "poses_cam0_id7.trc")[3]
    b = parse_trc(tmp_path / "b" / "clip_cam0_id7.trc")[3]
    assert len(a) == len(b) == FRAMES
    np.testing.assert_allclose(np.array([r[2:] for r in a if r[2]], float),
                               np.array([r[2:] for r in b if r[2]], float), atol=0.02)


BAD_INPUTS = {
    "missing": (None, "no such file"),
    "garbage": (b"\x00\x01 not a pose file at all \xff", "is not JSON"),
    "corrupt recording": (MAGIC + b"\xc1\xc1\xc1", "corrupt"),
    "bad message": (b'{"schema": 1, "stream": "a"}\n', "line 1"),
    "empty": (b"", "no pose message"),
    "empty recording": (MAGIC, "no pose message"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_inputs_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    content, match = BAD_INPUTS[case]
    path = tmp_path / "in.cprec"
    if content is not None:
        path.write_bytes(content)
    assert convert(str(path), "--to", "bvh", "--out", str(tmp_path / "out")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and match in err[0], err


def test_nobody_in_view_and_unknown_format_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], clip: Path
) -> None:
    msg = {"schema": 1, "stream": "cam0", "frame": 0, "t_capture": 1.0, "t_publish": 1.0, "t_wall": 1.0,
           "image_size": [640, 480], "timings": {}, "dropped": 0, "persons": []}
    nobody = write_recording(tmp_path / "nobody.cprec", [pack(msg)] * 3)
    assert convert(str(nobody), "--to", "bvh") == 2
    assert convert(str(clip), "--to", "fbx", "--out", str(tmp_path)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2
    assert "nobody in them" in err[0] and "unknown format 'fbx'" in err[1] and "bvh" in err[1]


def test_a_real_recording_converts_to_every_format(tmp_path: Path) -> None:
    """80 frames of the demo video through the whole runtime (two people: id 1 walks on a roof about
    2 m up, id 2 on the ground below)."""
    formats = ["bvh", "trc", "csv", "jsonl", "npz"] + (["c3d"] if importlib.util.find_spec("ezc3d") else [])
    for fmt in formats:
        assert convert(str(DEMO_RECORDING), "--to", fmt, "--out", str(tmp_path)) == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted(f"demo_two_people_0_id{i}.{ext}" for i in (1, 2) for ext in formats)
    tracks = {}
    for m in read_messages(DEMO_RECORDING):
        for p in m["persons"]:
            tracks.setdefault(p["id"], []).append(p["kp3d"].astype(np.float64))
    bvhio = pytest.importorskip("bvhio")
    for pid, poses in tracks.items():
        truth = np.stack(poses) @ Y_UP.T
        root = bvhio.readAsHierarchy(str(tmp_path / f"demo_two_people_0_id{pid}.bvh"))
        joints = {j.Name: j for j, _, _ in root.layout()}
        lengths = np.median(bone_lengths(truth), axis=0)
        fitted = with_bone_lengths(truth, np.broadcast_to(lengths, (len(truth), len(BONES))))
        for f in range(0, len(truth), 5):
            root.loadPose(f, recursive=True)
            got = np.array([list(joints[name].PositionWorld) for name in JOINT_NAMES])
            np.testing.assert_allclose(got, fitted[f], atol=0.01)  # the track's bones, median lengths
            assert np.abs(got - truth[f]).max() < 0.15  # and close to the published joints


def test_a_real_recording_in_world_axes_finds_the_ground_not_the_roof(tmp_path: Path) -> None:
    assert convert(str(DEMO_RECORDING), "--to", "npz", "--world", "--out", str(tmp_path)) == 0
    feet = {}
    for pid in (1, 2):
        with np.load(tmp_path / f"demo_two_people_0_id{pid}.npz") as z:
            k = z["kp3d"]
            assert str(z["axes"]) == "world"
            feet[pid] = float(np.median(np.minimum(k[:, Joint.RFOOT, 1], k[:, Joint.LFOOT, 1])))
            assert np.median(k[:, Joint.HEAD, 1] - k[:, Joint.PELVIS, 1]) > 0.4  # y up: the head above
    assert abs(feet[2] - ANKLE) < 0.1, feet  # on the ground
    assert 1.0 < feet[1] < 3.5, feet  # on the roof


def test_bvh_hierarchy_follows_the_skeleton(tmp_path: Path, clip: Path) -> None:
    """Every H36M joint is a BVH joint whose BVH ancestors include its skeleton parent."""
    assert convert(str(clip), "--to", "bvh", "--out", str(tmp_path)) == 0
    stack: list[str] = []
    parent_of: dict[str, str] = {}
    for line in (tmp_path / "clip_cam0_id7.bvh").read_text().split("MOTION")[0].splitlines():
        words = line.split()
        if words[0] in ("ROOT", "JOINT"):
            pending = words[1]
        elif words[0] == "End":
            pending = "End"
        elif words[0] == "{":
            if stack:
                parent_of[pending] = stack[-1]
            stack.append(pending)
        elif words[0] == "}":
            stack.pop()
    for j in range(1, NUM_JOINTS):
        ancestors, name = [], JOINT_NAMES[j]
        while name in parent_of:
            name = parent_of[name]
            ancestors.append(name)
        assert JOINT_NAMES[PARENTS[j]] in ancestors


def test_world_jsonl_says_so_and_is_not_converted_again(
    clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert convert(str(clip), "--to", "jsonl", "--world", "--out", str(tmp_path)) == 0
    first = json.loads((tmp_path / "clip_cam0_id9.jsonl").read_text().splitlines()[0])
    assert first["axes"] == "world"
    np.testing.assert_allclose(first["persons"][0]["kp3d"], WORLD[9][0], atol=0.01)
    assert convert(str(tmp_path / "clip_cam0_id9.jsonl"), "--to", "bvh", "--out", str(tmp_path)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "already in 'world' axes" in err[0]


def test_tracks_group_messages_by_stream_and_id_with_their_arrays(clip: Path) -> None:
    from camerapose.runtime.files.tracks import group_tracks

    tracks = group_tracks(read_messages(clip))
    assert [(t.stream, t.id) for t in tracks] == [("cam0", 7), ("cam0", 9)]
    seven = tracks[0]
    assert list(seven.frames) == [f for f in range(FRAMES) if f not in GAP] and seven.span == FRAMES
    assert seven.kp3d.shape == (FRAMES - len(GAP), 17, 3) and seven.kp2d.shape == (FRAMES - len(GAP), 17, 2)
    np.testing.assert_allclose(seven.kp3d, CAMERA[7][seen(7)], atol=1e-5)
    np.testing.assert_allclose(seven.t, 100 + seven.frames / FPS)
    np.testing.assert_allclose(seven.camera[0], [1000, 1000, 640, 360])
    assert [m["persons"][0]["id"] for m in seven.messages] == [7] * len(seven.frames)
