"""The world stream (`run --calibration`, `"kind": "world"`) through every consumer of the published
stream: JSON lines, npz, CSV (its own table), MCAP, `.cprec` record / replay, the Python client,
`convert --world` (one file per world id, y up for BVH, TRC and C3D), the results objects and the
rerun recording. Fast: the messages are built here with `schema.world_person` / `camera_pose`.

The synthetic rig: a z-up world (as Qualisys calibrations are), two cameras 1.5 m high looking at
two people who walk (ids 1 and 2; id 2 unseen at frames 20-24); camera "0" sees them as its tracks
5 and 6, camera "1" as 8 and 9; id 1's right wrist is filled from a monocular pose (views 0).
"""

from __future__ import annotations

import csv
import json
import logging
import threading
import time
from pathlib import Path

import msgpack
import numpy as np
import pytest

from camerapose.cli import main
from camerapose.core.errors import InputError
from camerapose.core.skeleton import NUM_JOINTS, Joint
from camerapose.runtime.files import ground
from camerapose.runtime.files.csv import WORLD_HEADER, world_path
from camerapose.runtime.files.messages import read_messages
from camerapose.runtime.files.save import open_writer
from camerapose.runtime.files.tracks import JOINT_NAMES, group_tracks
from camerapose.runtime.results import Result, Results, WorldPerson
from camerapose.runtime.wire import schema
from camerapose.runtime.wire.record import MAGIC, read_recording

from .test_files import FPS, FRAMES, GAP, walk

# y-up world of test_files.walk -> z up, right-handed: (x, y, z) -> (x, -z, y)
Z_UP = np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])
PEOPLE = {1: walk(1, (-1.0, -1.0), 0.3, 1.0) @ Z_UP.T, 2: walk(2, (0.8, 1.0), 2.5, 0.92) @ Z_UP.T}
TRACKS = {1: {"0": 5, "1": 8}, 2: {"0": 6, "1": 9}}
FILLED = Joint.RWRIST  # id 1's joint that no two views saw
F = 600.0  # the cameras' focal length, pixels (1280 x 720 images, principal point in the middle)


def rig() -> list[tuple[str, str, np.ndarray, np.ndarray]]:
    """(name, stream, R, t) of the two cameras: x_cam = R x_world + t (x right, y down, z forward)."""
    looking_north = np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])  # from (0, -5, 1.5) along +y
    looking_west = np.array([[0.0, 1, 0], [0, 0, -1], [-1, 0, 0]])  # from (5, 0, 1.5) along -x
    out = []
    for name, stream, R, centre in (("cam_a", "0", looking_north, (0, -5, 1.5)),
                                    ("cam_b", "1", looking_west, (5, 0, 1.5))):
        out.append((name, stream, R, -R @ np.array(centre, float)))
    return out


def cameras() -> list[dict]:
    return [schema.camera_pose(n, s, (F, F, 640.0, 360.0), R, t, (1280, 720)) for n, s, R, t in rig()]


def seen(pid: int, frame: int) -> bool:
    return not (pid == 2 and frame in GAP)


def world_raw(frame: int) -> dict:
    """The world stream's message of one frame (arrays encoded, as the fuse stage publishes it)."""
    persons = []
    for pid, kp in PEOPLE.items():
        if not seen(pid, frame):
            continue
        views = np.full(NUM_JOINTS, 2.0)
        reproj = np.full(NUM_JOINTS, 3.0) + 0.1 * pid
        if pid == 1:
            views[FILLED], reproj[FILLED] = 0.0, 0.0
        persons.append(schema.world_person(pid, 0.95, kp[frame], views, reproj, False, TRACKS[pid]))
    t = frame / FPS
    return {"schema": 1, "kind": "world", "stream": "world", "frame": frame, "t_capture": 100.0 + t,
            "t_wall": 1.7e9 + t, "t_publish": 100.05 + t, "t_media": t, "fps": FPS, "cameras": cameras(),
            "timings": {"fuse": 2.5, "total": 50.0}, "dropped": 0, "persons": persons}


def camera_raw(stream: str, frame: int) -> dict:
    """A camera's message of the same frame: its tracks' 3D in its frame, projected for the 2D."""
    R, t = next((R, t) for _, s, R, t in rig() if s == stream)
    persons = []
    for pid, kp in PEOPLE.items():
        if not seen(pid, frame):
            continue
        X = kp[frame] @ R.T + t
        uv = F * X[:, :2] / X[:, 2:] + np.array([640.0, 360.0])
        persons.append(schema.person(TRACKS[pid][stream], 0.9, np.zeros(4), uv, np.full(17, 0.8), X, F, F,
                                     640.0, 360.0, X[0], "given"))
    tm = frame / FPS
    return {"schema": 1, "stream": stream, "frame": frame, "t_capture": 100.0 + tm, "t_wall": 1.7e9 + tm,
            "t_publish": 100.04 + tm, "t_media": tm, "fps": FPS, "image_size": [1280, 720],
            "timings": {"total": 40.0}, "dropped": 0, "persons": sorted(persons, key=lambda p: p["id"])}


def raw_run(frames: int = FRAMES) -> list[dict]:
    """A run's messages in publishing order: each camera's, then the moment's world message."""
    return [m for f in range(frames) for m in (camera_raw("0", f), camera_raw("1", f), world_raw(f))]


def decoded(frames: int = FRAMES) -> list[dict]:
    return [schema.decode(schema.pack(m)) for m in raw_run(frames)]


def write_cprec(path: Path, raws: list[dict]) -> Path:
    with open(path, "wb") as f:
        f.write(MAGIC)
        for i, m in enumerate(raws):
            record = [i / (3 * FPS), schema.topic(m["stream"]), schema.pack(m)]
            f.write(msgpack.packb(record, use_bin_type=True))
    return path


@pytest.fixture(scope="module")
def run_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_cprec(tmp_path_factory.mktemp("world") / "rig.cprec", raw_run())


def is_world(msg: dict) -> bool:
    return msg.get("kind") == "world"


def same_messages(got: list[dict], want: list[dict], atol: float = 0.0) -> None:
    assert [(m["stream"], m["frame"]) for m in got] == [(m["stream"], m["frame"]) for m in want]
    for a, b in zip(got, want, strict=True):
        assert is_world(a) == is_world(b) and len(a["persons"]) == len(b["persons"])
        for p, q in zip(a["persons"], b["persons"], strict=True):
            np.testing.assert_allclose(p["kp3d"], q["kp3d"], atol=atol)
            if is_world(b):
                np.testing.assert_allclose(p["views"], q["views"], atol=atol)
                assert p["tracks"] == q["tracks"] and p["single_view"] == q["single_view"]
        if is_world(b):
            for c, d in zip(a["cameras"], b["cameras"], strict=True):
                np.testing.assert_allclose(c["R"], d["R"], atol=atol)
                assert c["name"] == d["name"] and tuple(c["size"]) == tuple(d["size"])


# -- the rig itself ------------------------------------------------------------------------------------
def test_the_rigs_world_is_z_up_and_its_cameras_see_the_people() -> None:
    for kp in PEOPLE.values():
        assert (kp[:, Joint.HEAD, 2] > kp[:, Joint.PELVIS, 2] + 0.3).all()  # z up
    for _, stream, R, _ in rig():
        assert np.allclose(R @ R.T, np.eye(3)) and np.linalg.det(R) == pytest.approx(1.0)
        for f in (0, FRAMES - 1):
            for p in schema.decode(schema.pack(camera_raw(stream, f)))["persons"]:
                assert (p["kp3d"][:, 2] > 1.0).all()  # in front of the camera
                assert ((p["kp2d"] >= 0) & (p["kp2d"] <= [1280, 720])).all()  # in its image
    assert ground.world_up(schema.decode(schema.pack(world_raw(0)))["cameras"]) == (2, 1)


# -- files: JSON lines, npz, CSV, MCAP ------------------------------------------------------------------
def test_jsonl_holds_the_world_messages_and_reads_back(tmp_path: Path) -> None:
    msgs = decoded(10)
    with open_writer(tmp_path / "run.jsonl") as w:
        for m in msgs:
            w.write(m)
    lines = [json.loads(line) for line in (tmp_path / "run.jsonl").read_text().splitlines()]
    assert len(lines) == len(msgs) and sum(m.get("kind") == "world" for m in lines) == 10
    assert "image_size" not in lines[2] and lines[2]["cameras"][0]["name"] == "cam_a"
    same_messages(list(read_messages(tmp_path / "run.jsonl")), msgs, atol=1e-5)


def test_json_of_a_world_message_packs_back_to_the_same_wire_map() -> None:
    from camerapose.runtime.wire.json_map import wire_map

    raw = world_raw(3)
    msg = schema.decode(schema.pack(raw))
    again = schema.decode(schema.pack(wire_map(json.loads(json.dumps(schema.to_json(msg, decimals=None))))))
    same_messages([again], [msg])  # float32 values survive as the doubles they are, bit for bit
    np.testing.assert_array_equal(again["persons"][0]["reproj_px"], msg["persons"][0]["reproj_px"])


def test_npz_keeps_the_camera_rows_and_adds_the_world_arrays(tmp_path: Path) -> None:
    msgs = decoded(30)
    with open_writer(tmp_path / "run.npz") as w:
        for m in msgs:
            w.write(m)
    z = np.load(tmp_path / "run.npz")
    assert set(z["stream"]) == {"0", "1"} and z["kp3d"].shape == (len(z["stream"]), 17, 3)
    n = sum(len(m["persons"]) for m in msgs if is_world(m))
    assert z["world_kp3d"].shape == (n, 17, 3) and z["world_views"].shape == (n, 17)
    first = z["world_frame"] == 0
    np.testing.assert_allclose(z["world_kp3d"][first][0], PEOPLE[1][0], atol=1e-6)
    assert z["world_views"][first][0][FILLED] == 0 and not z["world_single_view"].any()
    assert list(z["world_tracks_streams"]) == ["0", "1"]
    assert z["world_tracks"][first].tolist() == [[5, 8], [6, 9]]
    assert list(z["world_camera_name"]) == ["cam_a", "cam_b"] and z["world_camera_R"].shape == (2, 3, 3)
    assert z["world_camera_size"].tolist() == [[1280, 720], [1280, 720]]
    assert set(z["world_frame"][z["world_id"] == 2]).isdisjoint(GAP)


def test_npz_without_a_world_stream_has_no_world_arrays(tmp_path: Path) -> None:
    with open_writer(tmp_path / "cams.npz") as w:
        for m in decoded(3):
            if not is_world(m):
                w.write(m)
    assert not any(k.startswith("world_") for k in np.load(tmp_path / "cams.npz").files)


def test_csv_puts_the_world_persons_in_a_table_of_their_own_beside_it(tmp_path: Path, caplog) -> None:
    msgs = decoded(30)
    caplog.set_level(logging.INFO)
    with open_writer(tmp_path / "run.csv") as w:
        for m in msgs:
            w.write(m)
    rows = list(csv.DictReader(open(tmp_path / "run.csv")))
    assert {r["stream"] for r in rows} == {"0", "1"}
    side = world_path(tmp_path / "run.csv")
    assert side == tmp_path / "run_world.csv"
    table = list(csv.reader(open(side)))
    assert tuple(table[0]) == WORLD_HEADER and len(table) - 1 == sum(len(m["persons"]) for m in msgs
                                                                    if is_world(m))
    first = dict(zip(table[0], table[1], strict=True))
    assert first["stream"] == "world" and first["id"] == "1" and first["tracks"] == "0:5 1:8"
    assert float(first["Head_z"]) == pytest.approx(PEOPLE[1][0, Joint.HEAD, 2], abs=1e-5)
    assert first["RWrist_views"] == "0" and first["Pelvis_views"] == "2" and first["single_view"] == "0"
    assert sum("a table of their own" in r.message for r in caplog.records) == 1


def test_csv_without_a_world_stream_makes_no_second_file(tmp_path: Path) -> None:
    with open_writer(tmp_path / "cams.csv") as w:
        for m in decoded(2):
            if not is_world(m):
                w.write(m)
    assert not world_path(tmp_path / "cams.csv").exists()


def test_the_world_table_alone_leaves_camera_rows_out_with_one_warning(tmp_path: Path, caplog) -> None:
    with open_writer(tmp_path / "w.csv", world=True) as w:
        for m in decoded(5):
            w.write(m)
    table = list(csv.reader(open(tmp_path / "w.csv")))
    assert tuple(table[0]) == WORLD_HEADER and {r[0] for r in table[1:]} == {"world"}
    assert sum("left out" in r.message for r in caplog.records) == 1


def test_mcap_holds_the_world_channel_and_reads_back_exactly(tmp_path: Path) -> None:
    pytest.importorskip("mcap")
    from mcap.reader import make_reader

    msgs = decoded(10)
    with open_writer(tmp_path / "run.mcap") as w:
        for m in msgs:
            w.write(m)
    with open(tmp_path / "run.mcap", "rb") as f:
        topics = {c.topic for c in make_reader(f).get_summary().channels.values()}
    assert topics == {"pose.0", "pose.1", "pose.world"}
    got = [schema.decode(p) for _, _, p in read_recording(tmp_path / "run.mcap")]
    same_messages(got, msgs)  # unrounded: the float32 values come back bit for bit


def test_mcap_schema_describes_the_world_message() -> None:
    from camerapose.runtime.wire.mcap_io import SCHEMA

    props = SCHEMA["properties"]
    assert {"kind", "cameras"} <= set(props)
    assert {"views", "reproj_px", "single_view", "tracks"} <= set(props["persons"]["items"]["properties"])


# -- tracks, convert ---------------------------------------------------------------------------------------
def test_world_ids_are_tracks_of_their_own(run_file: Path) -> None:
    tracks = group_tracks(read_messages(run_file))
    world = [t for t in tracks if t.is_world]
    assert [(t.stream, t.id) for t in world] == [("world", 1), ("world", 2)]
    one, two = world
    assert one.kp2d is None and one.camera is None and one.views.shape == (FRAMES, 17)
    np.testing.assert_allclose(one.kp3d, PEOPLE[1], atol=1e-6)
    assert set(two.frames.tolist()).isdisjoint(GAP) and two.tracks[0] == {"0": 6, "1": 9}
    assert not two.single_view.any() and one.fps == FPS
    assert {(t.stream, t.id) for t in tracks if not t.is_world} == {("0", 5), ("0", 6), ("1", 8), ("1", 9)}


def convert(*argv: str) -> int:
    return main(["convert", *argv, "-q"])


def trc_points(path: Path) -> tuple[list[str], np.ndarray]:
    lines = path.read_text().splitlines()
    names = [n for n in lines[3].split("\t")[2:] if n]
    rows = [ln.split("\t") for ln in lines[6:] if ln]
    return names, np.array([[float(v) for v in r[2:]] for r in rows]).reshape(len(rows), -1, 3)


def test_convert_world_writes_one_trc_per_world_id_turned_y_up(run_file: Path, tmp_path: Path,
                                                                caplog) -> None:
    caplog.set_level(logging.INFO)
    assert convert(str(run_file), "--world", "--to", "trc", "--out", str(tmp_path)) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rig_world_id1.trc", "rig_world_id2.trc"]
    names, pts = trc_points(tmp_path / "rig_world_id1.trc")
    assert names == list(JOINT_NAMES) and pts.shape == (FRAMES, 17, 3)
    yup = PEOPLE[1][..., [1, 2, 0]]  # z up -> (X, Y, Z) = (y, z, x), Pose2Sim's zup2yup
    np.testing.assert_allclose(pts / 1000, yup, atol=1e-5)  # metres in the file's millimetres, origin kept
    assert (pts[:, Joint.HEAD, 1] > pts[:, Joint.PELVIS, 1]).all()  # y up
    _, two = trc_points(tmp_path / "rig_world_id2.trc")
    assert np.isnan(two[list(GAP)]).all() and np.isfinite(np.delete(two, list(GAP), axis=0)).all()
    said = " ".join(r.message for r in caplog.records)
    assert "up is +z" in said and "(X, Y, Z) = (y, z, x)" in said and "camera streams are left out" in said


def test_convert_world_bvh_and_c3d_hold_the_same_y_up_joints(run_file: Path, tmp_path: Path) -> None:
    assert convert(str(run_file), "--world", "--to", "bvh", "--out", str(tmp_path)) == 0
    motion = (tmp_path / "rig_world_id1.bvh").read_text().split("MOTION")[1].splitlines()
    root = np.array([float(v) for v in motion[3].split()[:3]])
    np.testing.assert_allclose(root, PEOPLE[1][0, Joint.PELVIS][[1, 2, 0]], atol=1e-5)
    pytest.importorskip("ezc3d")
    import ezc3d

    assert convert(str(run_file), "--world", "--to", "c3d", "--out", str(tmp_path), "--markers",
                   "pose2sim") == 0
    c3d = ezc3d.c3d(str(tmp_path / "rig_world_id1.c3d"))
    labels = c3d["parameters"]["POINT"]["LABELS"]["value"]
    points = c3d["data"]["points"][:3, labels.index("Hip")].T / 1000
    np.testing.assert_allclose(points, PEOPLE[1][:, Joint.PELVIS][:, [1, 2, 0]], atol=1e-5)


def test_convert_world_message_files_keep_the_calibrations_frame(run_file: Path, tmp_path: Path) -> None:
    for fmt in ("csv", "jsonl", "npz"):
        assert convert(str(run_file), "--world", "--to", fmt, "--out", str(tmp_path)) == 0
    table = list(csv.DictReader(open(tmp_path / "rig_world_id1.csv")))
    assert len(table) == FRAMES
    assert float(table[0]["Head_z"]) == pytest.approx(PEOPLE[1][0, Joint.HEAD, 2], abs=1e-5)
    back = list(read_messages(tmp_path / "rig_world_id2.jsonl"))
    assert all(is_world(m) and [p["id"] for p in m["persons"]] == [2] for m in back)
    assert len(back) == FRAMES - len(GAP) and "axes" not in json.loads(
        (tmp_path / "rig_world_id2.jsonl").read_text().splitlines()[0])
    z = np.load(tmp_path / "rig_world_id1.npz")
    assert z["kp3d"].shape == (0, 17, 3) and z["world_kp3d"].shape == (FRAMES, 17, 3)
    np.testing.assert_allclose(z["world_kp3d"], PEOPLE[1], atol=1e-6)
    # the per-id JSON lines convert again, as the original
    again = tmp_path / "rig_world_id2.jsonl"
    assert convert(str(again), "--world", "--to", "trc", "--out", str(tmp_path)) == 0
    assert (tmp_path / "rig_world_id2_world_id2.trc").is_file()


def test_convert_without_world_leaves_the_world_stream_out_with_a_warning(run_file: Path, tmp_path: Path,
                                                                         caplog) -> None:
    assert convert(str(run_file), "--to", "trc", "--out", str(tmp_path)) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"rig_{s}_id{i}.trc" for s, i in
                                                         (("0", 5), ("0", 6), ("1", 8), ("1", 9))]
    assert any("--world converts them" in r.message for r in caplog.records)
    assert convert(str(run_file), "--stream", "world", "--to", "trc", "--out", str(tmp_path / "w")) == 0
    assert sorted(p.name for p in (tmp_path / "w").iterdir()) == ["rig_world_id1.trc", "rig_world_id2.trc"]


def test_a_file_of_the_world_stream_alone_needs_world(tmp_path: Path, capsys) -> None:
    only = write_cprec(tmp_path / "only.cprec", [world_raw(f) for f in range(5)])
    assert convert(str(only), "--to", "bvh", "--out", str(tmp_path)) == 2
    err = capsys.readouterr().err
    assert "only the world stream has persons: convert it with --world" in err and len(err.splitlines()) == 1
    assert convert(str(only), "--to", "bvh", "--world", "--out", str(tmp_path)) == 0


def test_a_camera_stream_with_world_still_fits_its_floor(run_file: Path, tmp_path: Path) -> None:
    assert convert(str(run_file), "--world", "--stream", "0", "--to", "trc", "--out", str(tmp_path)) == 0
    _, pts = trc_points(tmp_path / "rig_0_id5.trc")
    ankles = np.minimum(pts[:, Joint.RFOOT, 1], pts[:, Joint.LFOOT, 1]) / 1000
    assert np.median(ankles) == pytest.approx(0.07, abs=0.02)  # the floor fit: ankles 7 cm above y = 0


@pytest.mark.parametrize("axis, sign", [(0, 1), (0, -1), (1, 1), (1, -1), (2, 1), (2, -1)])
def test_every_up_axis_turns_to_y_by_a_rotation(axis: int, sign: int) -> None:
    rot = ground.yup_rotation(axis, sign)
    assert np.linalg.det(rot) == pytest.approx(1.0) and np.allclose(rot @ rot.T, np.eye(3))
    assert rot @ (sign * np.eye(3)[axis]) == pytest.approx([0, 1, 0])
    assert ground.up_axis(sign * np.eye(3)[axis] + 0.1) == (axis, sign)


def test_the_world_up_comes_from_the_cameras_else_the_people() -> None:
    cams = schema.decode(schema.pack(world_raw(0)))["cameras"]
    assert ground.world_up(cams) == (2, 1)
    assert ground.world_up([], PEOPLE[1]) == (2, 1)
    assert ground.world_up([], PEOPLE[1] @ Z_UP) == (1, 1)  # the y-up original
    assert ground.axes_text(ground.yup_rotation(2, 1)) == "(X, Y, Z) = (y, z, x)"


# -- the results objects ---------------------------------------------------------------------------------
def test_a_world_result_has_world_persons_and_cameras(tmp_path: Path) -> None:
    results = Results(decoded(30))
    w = results[2]
    assert w.is_world and not results[0].is_world
    assert w.image_size is None and results[0].image_size == (1280, 720)
    assert [c["name"] for c in w.cameras] == ["cam_a", "cam_b"] and results[0].cameras is None
    p = w.persons[0]
    assert isinstance(p, WorldPerson) and p.id == 1 and p.tracks == {"0": 5, "1": 8} and not p.single_view
    assert p.views[FILLED] == 0 and p.reproj_px.shape == (17,) and p.box is None
    with pytest.raises(AttributeError, match="world person has no kp2d"):
        p.kp2d  # noqa: B018
    with pytest.raises(AttributeError, match="per camera"):
        p.camera  # noqa: B018
    with pytest.raises(InputError, match="no image"):
        w.plot(np.zeros((720, 1280, 3), np.uint8))
    assert Result(w.to_dict()).persons[0].tracks == p.tracks  # survives a round trip through a dict
    tracks = results.tracks("world")
    assert sorted(tracks) == [1, 2] and tracks[1].is_world and tracks[1].views.shape == (30, 17)
    with pytest.raises(InputError, match="give stream"):
        results.tracks()


def test_results_save_takes_the_world_stream_like_convert(tmp_path: Path) -> None:
    results = Results(decoded(30))
    paths = results.save(tmp_path / "x.trc", world=True)
    assert [p.name for p in paths] == ["x_world_id1.trc", "x_world_id2.trc"]
    paths = results.save(tmp_path / "all.csv")
    assert paths == [tmp_path / "all.csv", tmp_path / "all_world.csv"]
    assert [p.name for p in results.save(tmp_path / "cams.bvh")] == [f"cams_{s}_id{i}.bvh" for s, i in
                                                                    (("0", 5), ("0", 6), ("1", 8), ("1", 9))]


# -- the wire: subscribe, record, replay ------------------------------------------------------------------
def test_summary_line_prints_world_persons() -> None:
    from camerapose.runtime.wire.client import summary_line

    msgs = decoded(1)
    assert summary_line(msgs[0]).startswith("0 #0 40.0 ms 2 persons  id 5 pelvis")
    line = summary_line(msgs[2])
    assert line.startswith("world #0 50.0 ms 2 persons  id 1 pelvis (") and "2 views 3.1 px" in line


def test_the_client_subscribes_to_the_world_stream_alone(port: int, publishing) -> None:
    from camerapose.runtime import subscribe

    endpoint = f"tcp://127.0.0.1:{port}"
    pairs = [(m["stream"], schema.pack(m)) for m in raw_run(2)]
    with publishing(endpoint, pairs):
        got = [m for _, m in zip(range(4), subscribe(endpoint, ["world"], timeout=10), strict=False)]
    assert len(got) == 4 and all(is_world(m) and m["stream"] == "world" for m in got)
    assert got[0]["cameras"][1]["stream"] == "1" and got[0]["persons"][0]["tracks"] == {"0": 5, "1": 8}


def test_subscribe_json_and_summary_print_world_messages(port: int, publishing, capsys) -> None:
    endpoint = f"tcp://127.0.0.1:{port}"
    with publishing(endpoint, [("world", schema.pack(world_raw(4)))]):
        code = main(["subscribe", "--endpoint", endpoint, "--json", "--count", "1", "--timeout", "10"])
    line = json.loads(capsys.readouterr().out)
    assert code == 0 and line["kind"] == "world" and len(line["persons"][0]["views"]) == 17
    assert line["cameras"][0]["size"] == [1280, 720]


def test_record_and_replay_keep_the_world_messages_byte_for_byte(tmp_path: Path) -> None:
    from camerapose.runtime import subscribe
    from camerapose.runtime.wire.publisher import PublishConfig, Publisher
    from camerapose.runtime.wire.record import record, replay

    from .conftest import free_port

    src, dst = f"tcp://127.0.0.1:{free_port()}", f"tcp://127.0.0.1:{free_port()}"
    sent = [schema.pack(m) for m in raw_run(3)]
    pub = Publisher(PublishConfig(endpoint=src))
    rec = threading.Thread(target=record, args=(tmp_path / "r.cprec", src, None, len(sent), 10.0))
    rec.start()
    deadline = time.monotonic() + 5
    while not pub.poll_subscriptions() and time.monotonic() < deadline:
        time.sleep(0.01)
    for m, p in zip(raw_run(3), sent, strict=True):
        pub.send(m["stream"], p)
        time.sleep(0.01)
    rec.join(10)
    pub.close()
    items = list(read_recording(tmp_path / "r.cprec"))
    assert [p for _, _, p in items] == sent and items[2][1] == b"pose.world"
    got: list[bytes] = []
    th = threading.Thread(target=lambda: got.extend(
        p for _, (_, p) in zip(range(3), subscribe(dst, ["world"], timeout=10, raw=True), strict=False)))
    th.start()
    replay(tmp_path / "r.cprec", PublishConfig(endpoint=dst, wait_subscriber_s=5))
    th.join(10)
    assert got == sent[2::3]


# -- rerun and the annotated video -------------------------------------------------------------------------
def test_rerun_logs_the_world_stream_in_a_world_space_of_its_own(tmp_path: Path) -> None:
    pytest.importorskip("rerun")
    from camerapose.runtime.draw.video import Annotator

    from .test_rerun import logged

    msgs = decoded(30)
    annot = Annotator("", False, True, str(tmp_path / "w.rrd"))
    for m in msgs:
        annot.add(m, None if is_world(m) else np.zeros((720, 1280, 3), np.uint8))
    annot.close()
    joints = logged(tmp_path / "w.rrd", "/joints")
    assert {"/world/persons/1/joints", "/world/persons/2/joints", "/0/persons/5/joints"} <= set(joints)
    np.testing.assert_array_equal(joints["/world/persons/1/joints"][7], PEOPLE[1][7].astype(np.float32))
    assert set(joints["/world/persons/2/joints"]).isdisjoint(GAP)


def test_an_annotated_video_skips_the_world_stream(tmp_path: Path) -> None:
    from camerapose.runtime.draw.video import Annotator, render

    with pytest.raises(InputError, match="no image"):
        render(decoded(1)[2], np.zeros((720, 1280, 3), np.uint8))
    annot = Annotator(str(tmp_path / "a.mp4"), False, True)
    annot.add(decoded(1)[2], None)
    assert annot.writers == {}  # no video for the world stream
    annot.close()


# -- a real run ----------------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.assets
@pytest.mark.parametrize("fmt", ["csv", "npz"])
def test_run_save_of_four_calibrated_cameras_writes_the_world_stream(fmt: str, assets_dir: Path,
                                                                     tmp_path: Path) -> None:
    """`run --calibration --every-frame --save` in the formats whose columns are a camera's: the
    publish stage's writer takes the world messages too (Pose2Sim's four views, 100 frames)."""
    import subprocess
    import sys

    from ..conftest import pose2sim_demo
    from .conftest import free_port

    videos, calib = pose2sim_demo(assets_dir)
    save = tmp_path / f"run.{fmt}"
    proc = subprocess.run([sys.executable, "-m", "camerapose", "run",
                           *[a for v in videos for a in ("--source", str(v))], "--calibration", str(calib),
                           "--every-frame", "--save", str(save), "--publish", f"tcp://127.0.0.1:{free_port()}",
                           "--stats-every", "0", "-q"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    if fmt == "csv":
        cams = list(csv.DictReader(open(save)))
        world = list(csv.DictReader(open(world_path(save))))
        assert {r["stream"] for r in cams} == {"0", "1", "2", "3"}
        assert {r["stream"] for r in world} == {"world"}
        frames, ids = [int(r["frame"]) for r in world], {r["id"] for r in world}
    else:
        z = np.load(save)
        assert set(z["stream"]) == {"0", "1", "2", "3"} and list(z["world_camera_name"]) == [
            "cam01", "cam02", "cam03", "cam04"]
        frames, ids = z["world_frame"].tolist(), set(z["world_id"].tolist())
    assert sorted(set(frames)) == list(range(100)) and len(ids) == 2
