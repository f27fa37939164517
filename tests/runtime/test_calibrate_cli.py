"""`camerapose calibrate`: one-line errors for bad input, intrinsics matched to the videos, and (slow,
assets) the real run on Pose2Sim's four-camera demo against its Qualisys calibration."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from camerapose.cli import main
from camerapose.core.calibration import read_calibration, write_calibration_toml
from camerapose.core.camera import Camera
from camerapose.core.errors import InputError
from camerapose.runtime.calibrate_cli import Video, _cameras_from, _fit_size

POSE2SIM = [f"video/pose2sim_multi_cam0{i}.mp4" for i in range(1, 5)]
POSE2SIM_CALIB = "video/pose2sim_multi_calib.qca.txt"


def clip(path: Path, frames: int = 3, size: tuple[int, int] = (64, 48)) -> Path:
    """A short black video."""
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, size)
    for _ in range(frames):
        out.write(np.zeros((size[1], size[0], 3), np.uint8))
    out.release()
    return path


def one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    try:
        code = main(["calibrate", *argv])
    except SystemExit as exit_:  # argparse's errors (the project's Parser: one line, exit 2)
        code = exit_.code
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


@pytest.fixture
def videos(tmp_path: Path) -> list[Path]:
    return [clip(tmp_path / "left.mp4"), clip(tmp_path / "right.mp4")]


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, videos: list[Path], capsys) -> None:
    a, b = (str(v) for v in videos)
    out = str(tmp_path / "calib.toml")
    cases = {
        "at least 2 --source videos, got 1": ["--source", a, "--out", out],
        "no such video file": ["--source", a, "--source", str(tmp_path / "absent.mp4"), "--out", out],
        "given twice as --source": ["--source", a, "--source", a, "--out", out],
        "is a folder, not a video file": ["--source", a, "--source", str(tmp_path), "--out", out],
        "name it *.toml": ["--source", a, "--source", b, "--out", str(tmp_path / "calib.json")],
        "once for all videos or once per video (2), got 3": [
            "--source", a, "--source", b, "--out", out, "--focal", "900", "--focal", "900", "--focal", "900"],
        "no such calibration file": ["--source", a, "--source", b, "--out", out,
                                     "--intrinsics", str(tmp_path / "absent.toml")],
        "expected a number": ["--source", a, "--source", b, "--out", out, "--fov", "wide"],
        "--out": ["--source", a, "--source", b],  # required
    }
    for words, argv in cases.items():
        assert words in one_line_error(capsys, argv), words
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"not a video" * 20)
    assert re.search(r"garbage\.mp4: (cannot open as a video|the video gives no frames)",
                     one_line_error(capsys, ["--source", a, "--source", str(garbage), "--out", out]))
    assert not (tmp_path / "calib.toml").exists()


def test_videos_without_people_are_one_line(tmp_path: Path, videos: list[Path], capsys,
                                            detector_models) -> None:
    out = tmp_path / "calib.toml"
    argv = ["--source", str(videos[0]), "--source", str(videos[1]), "--out", str(out)]
    line = one_line_error(capsys, argv)
    assert "no person was found in left, right" in line
    assert not out.exists()


def test_intrinsics_are_matched_to_the_videos(tmp_path: Path) -> None:
    cam = Camera(1000.0, 1000.0, 32.0, 24.0, 64, 48)
    other_cam = Camera(900.0, 900.0, 32.0, 24.0, 64, 48)
    rig = write_calibration_toml(tmp_path / "rig.toml", {"cam01": cam, "cam02": other_cam})
    vids = [Video(tmp_path / f"trial_cam0{i}.mp4", f"trial_cam0{i}", 3, 30.0, (64, 48)) for i in (2, 1)]
    got = _cameras_from([str(rig)], vids, "--intrinsics")  # by name: each video ends with its camera's
    assert [name for name, _ in got] == ["cam02", "cam01"] and got[0][1].fx == 900.0
    got = _cameras_from([f"{rig}:cam01", f"{rig}:cam01"], vids, "--intrinsics")  # in --source order
    assert [name for name, _ in got] == ["cam01", "cam01"]
    one = write_calibration_toml(tmp_path / "one.toml", {"phone": cam})
    assert [name for name, _ in _cameras_from([str(one)], vids, "--intrinsics")] == ["phone", "phone"]
    other = [Video(tmp_path / "x.mp4", "x", 3, 30.0, (64, 48))] * 2
    with pytest.raises(InputError, match=r"none matches the video 'x' \(cameras: cam01, cam02\); give "
                                         r"--intrinsics FILE:CAMERA once per video"):
        _cameras_from([str(rig)], other, "--intrinsics")
    with pytest.raises(InputError, match="no camera 'cam09'"):
        _cameras_from([f"{rig}:cam09"], vids, "--intrinsics")
    # a calibration of the same picture at twice the resolution is scaled; another shape is refused
    big = Camera(2000.0, 2000.0, 64.0, 48.0, 128, 96)
    small = _fit_size("big", big, vids[0], "--intrinsics")
    assert (small.fx, small.cx, small.width) == (1000.0, 32.0, 64)
    with pytest.raises(InputError, match=r"is for 128x128 images, the video .* is 64x48"):
        _fit_size("sq", Camera(2000.0, 2000.0, 64.0, 64.0, 128, 128), vids[0], "--intrinsics")


@pytest.mark.slow
@pytest.mark.assets
def test_pose2sim_demo_against_its_qualisys_calibration(tmp_path: Path, capsys, assets_dir: Path) -> None:
    """The real run (docs/calibrate.md): Pose2Sim's multi-person demo, the shipped intrinsics given;
    the result, aligned to the Qualisys calibration, within the figures the documentation states."""
    from camerapose import assets
    from camerapose.core.errors import AssetError

    try:
        paths = assets.fetch([*POSE2SIM, POSE2SIM_CALIB])
    except AssetError as err:
        pytest.skip(f"Pose2Sim's demo is not available: {err}")
    *vids, calib = (str(p) for p in paths)
    out = tmp_path / "calib.toml"
    argv = ["calibrate", *[a for v in vids for a in ("--source", v)], "--out", str(out),
            "--intrinsics", calib, "--compare", calib, "-q"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    cams = read_calibration(out)
    assert list(cams) == [Path(v).stem for v in vids]
    qualisys = read_calibration(calib)
    for name, cam in cams.items():
        assert cam.fx == qualisys[name[-5:]].fx and cam.R is not None  # the given intrinsics, kept
    rows = [line.split() for line in text.splitlines() if line.startswith("pose2sim_multi_cam")]
    compared = rows[4:]
    assert len(compared) == 4, text
    rotation = [float(r[1]) for r in compared]
    position_pct = [float(r[3]) for r in compared]
    assert max(rotation) < 4.0, text
    assert max(position_pct) < 8.0, text
    reproj = [float(r[1]) for r in rows[:4]]
    assert max(reproj) < 8.0, text
