"""`camerapose detect`: JSON lines as the issue specifies, the annotated video, clear errors."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import pytest

from camerapose.cli import main
from camerapose.runtime.detect.base import DetectorConfig
from camerapose.runtime.detect.cli import config_from_args, configure


def test_json_lines_follow_the_schema(demo_video: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["detect", str(demo_video), "--json", "--max-frames", "6", "-q"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 6
    rows = [json.loads(line) for line in lines]
    assert [r["frame"] for r in rows] == list(range(6))
    assert rows[1]["t"] == pytest.approx(1 / 30, abs=1e-3)
    persons = [p for r in rows for p in r["persons"]]
    assert persons, "a person is in view from frame 3"
    for p in persons:
        assert set(p) == {"id", "kp2d", "conf", "box", "score", "kp3d_teacher"}  # the stream's names
        assert len(p["kp3d_teacher"]) == 17 and p["kp3d_teacher"][0] == [0.0, 0.0, 0.0]  # metres, pelvis at 0
        assert isinstance(p["id"], int) and len(p["kp2d"]) == 17 and len(p["kp2d"][0]) == 2
        assert len(p["conf"]) == 17 and len(p["box"]) == 4 and 0 <= p["score"] <= 1


def test_annotate_writes_a_video_with_every_frame(
    demo_video: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "annotated.mp4"
    assert main(["detect", str(demo_video), "--max-frames", "5", "--annotate", str(out), "-q"]) == 0
    assert "5 frames" in capsys.readouterr().out
    cap = cv2.VideoCapture(str(out))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 5
    ok, frame = cap.read()
    assert ok and frame.shape == (994, 1768, 3)


@pytest.mark.parametrize(("content", "match"),
                         [(None, "no such video"), (b"not a video" * 10, "not a readable video")])
def test_bad_videos_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes | None, match: str
) -> None:
    path = tmp_path / "clip.mp4"
    if content is not None:
        path.write_bytes(content)
    assert main(["detect", str(path), "--json"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and match in err[0]


def _detect_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    configure(parser)
    return parser.parse_args(["clip.mp4", *argv])


def test_config_file_uses_the_runtime_detector_tables(tmp_path: Path) -> None:
    path = tmp_path / "det.toml"
    path.write_text(
        "[detector]\nmax_persons = 2\n[detector.tracker]\nreach = 2.5\n"
        "[detector.tracker.one_euro]\nbeta = 3.0\n"
        "[detector.onnx]\nlayout = 'heatmap'\ninput_size = [192, 256]\n"
    )
    cfg = config_from_args(_detect_args("--config", str(path)))
    assert cfg.max_persons == 2 and cfg.tracker.reach == 2.5 and cfg.tracker.one_euro.beta == 3.0
    assert cfg.onnx.layout == "heatmap" and cfg.onnx.input_size == (192, 256)
    assert cfg.detect_every == DetectorConfig().detect_every


def test_flags_and_set_override_the_file(tmp_path: Path) -> None:
    path = tmp_path / "det.toml"
    path.write_text("[detector]\nmax_persons = 2\ndetect_every = 3\n")
    cfg = config_from_args(_detect_args("--config", str(path), "--max-persons", "3", "--no-smooth",
                                        "--set", "detector.detect_every=5", "--set", "detector.backend=onnx"))
    assert (cfg.max_persons, cfg.detect_every, cfg.backend, cfg.tracker.smooth) == (3, 5, "onnx", False)


def test_unknown_detector_key_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], demo_video: Path
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[detector]\nmax_persons = 2\nbogus = 1\n")
    assert main(["detect", str(demo_video), "--config", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and f"{bad}: unknown config key 'detector.bogus' (known here: backend," in err
    assert main(["detect", str(demo_video), "--set", "detector.max_persons=0"]) == 2
    assert "--set detector.max_persons=0: detector.max_persons must be in" in capsys.readouterr().err
