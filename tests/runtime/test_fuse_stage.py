"""Multi-camera fusion in the runtime: cameras matched to sources, moments gathered offline and live,
the world message on the wire, and the whole run on Pose2Sim's multi-person demo."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from camerapose.core.errors import InputError
from camerapose.core.skeleton import bone_lengths
from camerapose.runtime.config import RuntimeConfig, check_inputs, fuse_cameras, load_config
from camerapose.runtime.protocol import EndOfInput, Poses
from camerapose.runtime.wire import schema
from camerapose.runtime.world import LiveGather, OfflineGather

from ..conftest import pose2sim_demo
from .conftest import free_port

CALIB = """
[cam_left]
name = "cam_left"
size = [640, 480]
matrix = [[500.0, 0.0, 320.0], [0.0, 500.0, 240.0], [0.0, 0.0, 1.0]]
distortions = [0.0, 0.0, 0.0, 0.0]
rotation = [0.0, 0.3, 0.0]
translation = [0.5, 0.0, 3.0]

[cam_right]
name = "cam_right"
size = [640, 480]
matrix = [[500.0, 0.0, 320.0], [0.0, 500.0, 240.0], [0.0, 0.0, 1.0]]
distortions = [0.0, 0.0, 0.0, 0.0]
rotation = [0.0, -0.3, 0.0]
translation = [-0.5, 0.0, 3.0]
"""


def _calib(tmp_path: Path, text: str = CALIB) -> Path:
    path = tmp_path / "calib.toml"
    path.write_text(text)
    return path


def _cfg(calib: Path, *sources: str, **fuse: object) -> RuntimeConfig:
    sets = [f"fuse.calibration={json.dumps(str(calib))}"]
    sets += [f"fuse.{k}={json.dumps(v)}" for k, v in fuse.items()]
    cfg = load_config(None, sets)
    from dataclasses import replace

    from camerapose.runtime.config import parse_source

    return replace(cfg, sources=tuple(parse_source(s, i) for i, s in enumerate(sources)))


# -- cameras and sources ---------------------------------------------------------------------------
def test_sources_take_their_camera_by_stream_name_file_stem_or_a_name_in_the_stem(tmp_path: Path) -> None:
    calib = _calib(tmp_path)
    by_stream = fuse_cameras(_cfg(calib, "cam_right=a.mp4", "cam_left=b.mp4"))
    assert [n for n, _ in by_stream] == ["cam_right", "cam_left"]
    by_stem = fuse_cameras(_cfg(calib, "x/shot_cam_left.mp4", "x/shot_cam_right.mp4"))
    assert [n for n, _ in by_stem] == ["cam_left", "cam_right"]
    by_order = fuse_cameras(_cfg(calib, "a.mp4", "b.mp4"))  # nothing matches by name: file order
    assert [n for n, _ in by_order] == ["cam_left", "cam_right"]
    chosen = fuse_cameras(_cfg(calib, "a.mp4", "b.mp4", cameras=["cam_right", "cam_left"]))
    assert [n for n, _ in chosen] == ["cam_right", "cam_left"]


@pytest.mark.parametrize(("sources", "fuse", "match"), [
    (("cam_left=a.mp4",), {}, "two or more sources"),
    (("cam_left=a.mp4", "other=b.mp4", "third=c.mp4"), {}, "no camera for source"),
    (("a.mp4", "b.mp4"), {"cameras": ["cam_left", "nope"]}, "no camera 'nope'"),
    (("a.mp4", "b.mp4"), {"cameras": ["cam_left"]}, "names 1 cameras for 2 sources"),
    (("cam_left=a.mp4", "cam_left2=b.mp4"), {"cameras": ["cam_left", "cam_left"]},
     "two sources on one camera"),
])
def test_a_source_without_a_camera_or_a_bad_match_is_one_line(tmp_path: Path, sources, fuse, match) -> None:
    with pytest.raises(InputError, match=match):
        fuse_cameras(_cfg(_calib(tmp_path), *sources, **fuse))


def test_a_camera_without_a_source_or_without_extrinsics_is_refused(tmp_path: Path) -> None:
    three = CALIB + CALIB.split("[cam_right]")[0].replace("cam_left", "cam_top")
    with pytest.raises(InputError, match="cam_top has no source"):
        fuse_cameras(_cfg(_calib(tmp_path, three), "cam_left=a.mp4", "cam_right=b.mp4"))
    no_pose = "\n".join(line for line in CALIB.splitlines()
                        if not line.startswith(("rotation", "translation")))
    with pytest.raises(InputError, match="no extrinsics"):
        fuse_cameras(_cfg(_calib(tmp_path, no_pose), "cam_left=a.mp4", "cam_right=b.mp4"))


def test_a_non_rotation_matrix_is_refused_when_the_calibration_is_read(tmp_path: Path) -> None:
    bad = CALIB.replace("rotation = [0.0, 0.3, 0.0]",
                        "R = [[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 1.0]]")
    bad = bad.replace("translation = [0.5, 0.0, 3.0]", "t = [0.5, 0.0, 3.0]", 1)
    with pytest.raises(InputError):
        fuse_cameras(_cfg(_calib(tmp_path, bad), "cam_left=a.mp4", "cam_right=b.mp4"))


def test_a_video_of_another_size_than_its_camera_is_refused(tmp_path: Path, demo_clip) -> None:
    clip = demo_clip(3, 4)  # 442 x 248, not the calibrated 640 x 480
    cfg = _cfg(_calib(tmp_path), f"cam_left={clip}", f"cam_right={clip}")
    with pytest.raises(InputError, match="calibrated for 640x480"):
        check_inputs(cfg)


def test_the_run_flag_reads_the_calibration_before_anything_starts(tmp_path: Path, capsys) -> None:
    from camerapose.cli import main

    calib = _calib(tmp_path)
    assert main(["run", "--source", "cam_left=a.mp4", "--source", "elsewhere=b.mp4",
                 "--calibration", str(calib)]) == 2
    assert "no camera for source 'b.mp4'" in capsys.readouterr().err
    assert main(["run", "--source", "cam_left=nothere.mp4", "--source", "cam_right=nothere.mp4",
                 "--calibration", str(tmp_path / "missing.toml")]) == 2
    assert "missing.toml" in capsys.readouterr().err


def test_estimate_takes_several_sources_only_as_a_calibrated_offline_rig(tmp_path: Path) -> None:
    import camerapose

    with pytest.raises(InputError, match="several calibrated cameras"):
        camerapose.estimate(["a.mp4", "b.mp4"])
    with pytest.raises(InputError, match="several calibrated cameras"):
        camerapose.estimate(["a.mp4", "b.mp4"], fuse={"calibration": str(_calib(tmp_path))})  # live
    with pytest.raises(InputError, match="no source"):
        camerapose.estimate([])
    with pytest.raises(InputError, match="draw one source"):
        camerapose.estimate(["a.mp4", "b.mp4"], every_frame=True, fuse={"calibration": str(_calib(tmp_path))},
                            output={"annotate": str(tmp_path / "x.mp4")})


# -- gathering moments -----------------------------------------------------------------------------
def _poses(stream: str, frame: int, t: float) -> Poses:
    return Poses(stream, frame, t, t, (640, 480), {}, 0, (), t_media=frame / 30, prev=frame - 1, fps=30.0)


def test_offline_a_world_frame_waits_for_every_stream_and_goes_out_in_order() -> None:
    g = OfflineGather(["a", "b"])
    assert g.add(_poses("a", 0, 0.0)) == [] and g.add(_poses("a", 1, 0.1)) == []
    out = g.add(_poses("b", 0, 0.0))
    assert [sorted(m) for m in out] == [["a", "b"]] and out[0]["a"].frame == 0
    assert g.add(_poses("b", 2, 0.2)) and not g.pending.get(1)  # b skipped frame 1: it goes with a's only


def test_offline_a_stream_that_ends_early_leaves_the_others_going() -> None:
    g = OfflineGather(["a", "b"])
    g.add(_poses("a", 0, 0.0))
    g.add(_poses("b", 0, 0.0))
    g.add(EndOfInput("b", 0))
    out = g.add(_poses("a", 1, 0.1))
    assert [sorted(m) for m in out] == [["a"]]


def test_live_frames_within_the_window_make_one_moment_and_a_stopped_camera_does_not_stop_it() -> None:
    g = LiveGather(["a", "b"], window_s=0.025, wait_s=0.1)
    # frames reach the fuse stage ~0.1 s after capture (detect, lift): waiting counts from arrival
    assert g.add(_poses("a", 0, 10.00), now=10.10) == []  # b not there yet
    out = g.add(_poses("b", 0, 10.02), now=10.15)
    assert len(out) == 1 and out[0]["a"].frame == 0 and out[0]["b"].frame == 0
    g.add(_poses("a", 1, 10.10), now=10.20)  # camera b has stopped
    assert g.flush(now=10.25) == []  # still waiting for b
    out = g.flush(now=10.31)
    assert len(out) == 1 and list(out[0]) == ["a"]  # gone out without b
    g.add(_poses("b", 1, 10.09), now=10.32)  # b's frame of that moment, too late
    assert g.late == 1


# -- the world message on the wire -----------------------------------------------------------------
def _world_msg() -> dict:
    person = schema.world_person(3, 0.9, np.zeros((17, 3)), np.full(17, 4.0), np.ones(17), False,
                                 {"cam01": 2})
    cam = schema.camera_pose("cam01", "cam01", (1000.0, 1000.0, 540.0, 960.0), np.eye(3), np.zeros(3),
                             (1080, 1920))
    return {"schema": 1, "kind": "world", "stream": "world", "frame": 5, "t_capture": 1.0,
            "t_publish": 1.1, "t_wall": 2.0, "timings": {"fuse": 0.5}, "dropped": 0, "cameras": [cam],
            "persons": [person]}


def test_a_world_message_decodes_with_its_cameras_and_persons() -> None:
    msg = schema.decode(schema.pack(_world_msg()))
    assert schema.is_world(msg) and msg["persons"][0]["tracks"] == {"cam01": 2}
    assert msg["persons"][0]["views"].shape == (17,) and msg["cameras"][0]["R"].shape == (3, 3)
    assert msg["cameras"][0]["size"] == (1080, 1920)


@pytest.mark.parametrize(("break_it", "match"), [
    (lambda m: m.pop("cameras"), "missing keys"),
    (lambda m: m["persons"][0].pop("views"), "must be a map with keys"),
    (lambda m: m["persons"][0].update(single_view=1), "single_view"),
    (lambda m: m["persons"][0].update(tracks={"cam01": -1}), "tracks"),
    (lambda m: m["cameras"][0].update(size=[1, 2, 3]), "size"),
    (lambda m: m.update(kind="other"), "kind"),
])
def test_a_malformed_world_message_is_a_schema_error(break_it, match) -> None:
    msg = _world_msg()
    break_it(msg)
    with pytest.raises(schema.SchemaError, match=match):
        schema.decode(schema.pack(msg))


# -- the whole run -----------------------------------------------------------------------------------
def _run(sources: list[str], calib: Path, save: Path) -> list[dict]:
    cmd = [sys.executable, "-m", "camerapose", "run", *[a for s in sources for a in ("--source", s)],
           "--calibration", str(calib), "--every-frame", "--save", str(save),
           "--publish", f"tcp://127.0.0.1:{free_port()}", "--stats-every", "0", "-q"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return [json.loads(line) for line in save.read_text().splitlines()]


@pytest.mark.slow
@pytest.mark.assets
def test_four_cameras_give_one_world_skeleton_per_person_on_every_frame(assets_dir: Path,
                                                                       tmp_path: Path) -> None:
    videos, calib = pose2sim_demo(assets_dir)
    msgs = _run([str(v) for v in videos], calib, tmp_path / "out.jsonl")
    world = [m for m in msgs if m.get("kind") == "world"]
    assert [m["frame"] for m in world] == list(range(100)) and all(m["stream"] == "world" for m in world)
    assert len(world[0]["cameras"]) == 4
    fx = {c["stream"]: c["K"][0] for c in world[0]["cameras"]}
    cams = [p["camera"] for m in msgs if m.get("kind") != "world" for p in m["persons"]]
    assert cams and all(c["source"] == "given" for c in cams)  # each camera lifted with its own K
    assert {m["stream"]: m["persons"][0]["camera"]["fx"] for m in msgs
            if m.get("kind") != "world" and m["persons"]} == pytest.approx(fx, rel=1e-5)
    ids = {p["id"] for m in world for p in m["persons"]}
    assert len(ids) == 2, ids  # two people, no switch, no spurious world id
    for pid in ids:
        frames = [m for m in world if any(p["id"] == pid for p in m["persons"])]
        assert len(frames) >= 90
        kp = np.array([p["kp3d"] for m in frames for p in m["persons"] if p["id"] == pid])
        lengths = bone_lengths(kp)
        mean = lengths.mean(0)
        assert np.median((lengths.std(0) / mean)[mean > 0.2]) < 0.03  # long bones steady within 3 %
    reproj = np.concatenate([np.array(p["reproj_px"])[np.array(p["views"]) >= 2] for m in world
                             for p in m["persons"]])
    assert np.median(reproj) <= 10.0
    # in this process, the same: each camera's frame, then the moment's world message
    import camerapose

    mine = [m for m in camerapose.estimate([str(v) for v in videos], every_frame=True,
                                           fuse={"calibration": str(calib)}) if m.get("kind") == "world"]
    assert [m["frame"] for m in mine] == list(range(100))
    for a, b in zip(mine, world, strict=True):
        assert [p["id"] for p in a["persons"]] == [p["id"] for p in b["persons"]]
        for p, q in zip(a["persons"], b["persons"], strict=True):
            assert np.abs(p["kp3d"] - np.array(q["kp3d"])).max() < 1e-4  # --save rounds to 5 decimals


@pytest.mark.slow
@pytest.mark.assets
def test_a_camera_that_stops_leaves_the_world_stream_going_on_the_others(assets_dir: Path,
                                                                         tmp_path: Path) -> None:
    import cv2

    videos, calib = pose2sim_demo(assets_dir)
    short = tmp_path / "pose2sim_multi_cam04.mp4"  # cam04 stops after 40 frames
    cap = cv2.VideoCapture(str(videos[3]))
    fps = cap.get(cv2.CAP_PROP_FPS)
    out = None
    for _ in range(40):
        ok, img = cap.read()
        assert ok
        if out is None:
            size = (img.shape[1], img.shape[0])
            out = cv2.VideoWriter(str(short), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
        out.write(img)
    cap.release()
    out.release()
    msgs = _run([str(v) for v in videos[:3]] + [str(short)], calib, tmp_path / "out.jsonl")
    world = [m for m in msgs if m.get("kind") == "world"]
    assert [m["frame"] for m in world] == list(range(100))
    late = [p for m in world[50:] for p in m["persons"]]
    assert late and all("3" not in p["tracks"] for p in late)  # cam04 (stream 3) is gone
    assert len({p["id"] for p in late}) == 2


def _two_camera_calibration(calib: Path, names: tuple[str, ...], out: Path) -> Path:
    """Some cameras of a calibration, written as a Pose2Sim .toml (a rig of just those)."""
    from camerapose.core.calibration import read_calibration, write_calibration_toml

    cams = read_calibration(calib)
    return write_calibration_toml(out, {n: cams[n] for n in names})


@pytest.mark.slow
@pytest.mark.assets
def test_live_a_camera_that_stops_leaves_the_world_stream_going_on_the_other(assets_dir: Path,
                                                                               tmp_path: Path) -> None:
    import cv2

    videos, calib = pose2sim_demo(assets_dir)
    rig = _two_camera_calibration(calib, ("cam01", "cam02"), tmp_path / "rig.toml")
    # Both cameras re-timed to 15 fps (6.7 s; the geometry is the same), so that a loaded 2-core test
    # machine keeps up with them live; cam02 stops after 40 of 100 frames.
    clips = {"cam01": (videos[0], 100), "cam02": (videos[1], 40)}
    for name, (video, frames) in clips.items():
        cap, out = cv2.VideoCapture(str(video)), None
        for _ in range(frames):
            ok, img = cap.read()
            assert ok
            if out is None:
                size = (img.shape[1], img.shape[0])
                fourcc = cv2.VideoWriter_fourcc(*"mp4v")
                out = cv2.VideoWriter(str(tmp_path / f"{name}.mp4"), fourcc, 15.0, size)
            out.write(img)
        cap.release()
        out.release()
    save = tmp_path / "live.jsonl"
    cmd = [sys.executable, "-m", "camerapose", "run", "--source", f"cam01={tmp_path / 'cam01.mp4'}",
           "--source", f"cam02={tmp_path / 'cam02.mp4'}", "--calibration", str(rig), "--save", str(save),
           "--set", "fuse.wait_ms=400",  # a loaded test machine delays one camera's frames more
           "--publish", f"tcp://127.0.0.1:{free_port()}", "--stats-every", "0", "-q"]  # live mode
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    msgs = [json.loads(line) for line in save.read_text().splitlines()]
    end = max(m["t_capture"] for m in msgs if m["stream"] == "cam02")
    summary = [(m["stream"], m["frame"], [(p["id"], sorted(p.get("tracks", {}))) for p in m["persons"]])
               for m in msgs]
    world = [m for m in msgs if m.get("kind") == "world"]
    assert any(not p["single_view"] for m in world for p in m["persons"]), summary  # both cameras fused
    after = [p for m in world if m["t_capture"] > end + 0.1 for p in m["persons"]]
    assert after and all(p["single_view"] and list(p["tracks"]) == ["cam01"] for p in after), summary

