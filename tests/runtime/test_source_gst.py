"""`--source gst:PIPELINE`: a GStreamer pipeline run by a gst-launch-1.0 child (runtime/sources/gst.py).

The unit tests check the pipeline text, the caps and error lines gst-launch prints (copied from
real runs of GStreamer 1.22) and the kind, without processes. The slow ones run real pipelines
(videotestsrc, a MJPEG .avi, missing elements and files) and whole `camerapose run`s; they skip
where gst-launch-1.0 is missing (`make test` installs it: gstreamer1.0-tools, -plugins-base, -good).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from camerapose.cli import main
from camerapose.core.errors import InputError
from camerapose.runtime.config import parse_source
from camerapose.runtime.sources import KINDS, gst, open_source
from camerapose.runtime.sources.base import CaptureConfig, SourceSpec
from camerapose.runtime.sources.gst import GstSource, error_line, exit_words, is_finite, parse_caps

from .conftest import free_port

needs_gst = pytest.mark.skipif(
    shutil.which("gst-launch-1.0") is None,
    reason="gst-launch-1.0 is not installed (`make test` installs it; else apt-get install "
           "gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good)")

TEST_60 = "gst:videotestsrc num-buffers=60 pattern=ball ! video/x-raw,width=640,height=480"
PREFIX = "/GstPipeline:pipeline0/GstFdSink:camerapose_sink.GstPad:sink: caps = "
REST = "multiview-mode=(string)mono, pixel-aspect-ratio=(fraction)1/1, interlace-mode=(string)progressive"


# -- the kind and the pipeline's text (no processes) -----------------------------------------------
@pytest.mark.parametrize("uri", ["gst:videotestsrc", "GST:videotestsrc", "gst:nvarguscamerasrc sensor-id=0"])
def test_a_gst_uri_is_the_gst_kind(uri: str) -> None:
    assert SourceSpec(uri).kind == "gst"
    assert KINDS["gst"] is GstSource


def test_a_gst_uri_is_never_split_at_its_equals_signs_but_can_be_named() -> None:
    uri = "gst:videotestsrc num-buffers=60 ! video/x-raw,width=640,height=480"
    spec = parse_source(uri, 3)
    assert (spec.name, spec.uri) == ("3", uri)
    spec = parse_source("csi0=gst:nvarguscamerasrc sensor-id=0 ! nvvidconv", 0)
    assert (spec.name, spec.uri, spec.kind) == ("csi0", "gst:nvarguscamerasrc sensor-id=0 ! nvvidconv", "gst")


@pytest.mark.parametrize("pipeline", [
    "videotestsrc ! fdsink", "videotestsrc ! appsink name=x", "videotestsrc ! autovideosink",
    "v4l2src ! videoconvert ! fakesink sync=false", "nvarguscamerasrc ! nvvidconv ! nveglglessink -e",
])
def test_a_pipeline_that_ends_in_a_sink_is_refused_in_one_line(pipeline: str) -> None:
    with pytest.raises(InputError, match=r"the pipeline ends in a sink \(\w+sink\); end it with the last "
                                         r"element before the sink") as err:
        SourceSpec("gst:" + pipeline)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("pipeline", [
    "videotestsrc ! tee name=t ! queue ! fakesink t. ! queue",  # a branch to a sink, then ours
    "filesrc location='my sink' ! decodebin",  # "sink" inside a quoted value
    "nvarguscamerasrc ! video/x-raw(memory:NVMM),width=1280,height=720 ! nvvidconv",
])
def test_pipelines_that_end_in_an_element_are_accepted(pipeline: str) -> None:
    assert SourceSpec("gst:" + pipeline).kind == "gst"


@pytest.mark.parametrize(("uri", "match"), [
    ("gst:", "empty GStreamer pipeline"),
    ("gst:   ", "empty GStreamer pipeline"),
    ("gst:videotestsrc !", "starts or ends with '!'"),
    ("gst:! videotestsrc", "starts or ends with '!'"),
    ("gst:filesrc location='a.mp4 ! decodebin", "cannot split the pipeline into words"),
])
def test_an_empty_or_broken_pipeline_is_refused(uri: str, match: str) -> None:
    with pytest.raises(InputError, match=match):
        SourceSpec(uri)


def test_run_with_a_sink_pipeline_is_one_line_exit_2(capsys) -> None:
    assert main(["run", "--source", "gst:videotestsrc ! autovideosink", "--print-config"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "ends in a sink (autovideosink)" in err


def test_a_missing_gst_launch_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gst.shutil, "which", lambda name: None)
    with pytest.raises(InputError, match=r"gst-launch-1.0 is not installed .*gstreamer1.0-tools"):
        GstSource(SourceSpec("gst:videotestsrc"), CaptureConfig())


@pytest.mark.parametrize(("words", "finite"), [
    ("videotestsrc num-buffers=60 ! video/x-raw", True),
    ("videotestsrc is-live=true ! video/x-raw", False),
    ("filesrc location=a.mp4 ! qtdemux ! h264parse ! nvv4l2decoder ! nvvidconv", True),
    ("uridecodebin uri=file:///data/a.mp4", True),
    ("uridecodebin uri=rtsp://cam/stream", False),
    ("nvarguscamerasrc sensor-id=0 ! nvvidconv", False),
    ("v4l2src device=/dev/video0", False),
    ("rtspsrc location=rtsp://cam latency=100 ! rtph264depay", False),
])
def test_only_file_and_test_sources_are_paced(words: str, finite: bool) -> None:
    assert is_finite(words.split()) is finite


# -- what gst-launch prints (lines of real runs) ---------------------------------------------------
@pytest.mark.parametrize(("caps", "expected"), [
    ("video/x-raw, format=(string)BGR, width=(int)640, height=(int)480, framerate=(fraction)30/1, " + REST,
     (640, 480, 30.0, "BGR")),
    ("video/x-raw, format=(string)BGR, width=(int)1280, height=(int)720, framerate=(fraction)30000/1001, "
     + REST, (1280, 720, 30000 / 1001, "BGR")),
    ("video/x-raw, format=(string)BGR, width=(int)70, height=(int)50, framerate=(fraction)0/1, " + REST,
     (70, 50, 0.0, "BGR")),  # a still image: the rate is the config's
    ("video/x-raw, width=(int)64, height=(int)48, format=(string)BGR", (64, 48, 0.0, "BGR")),  # no framerate
])
def test_the_sink_caps_line_gives_size_and_rate(caps: str, expected: tuple) -> None:
    got = parse_caps(PREFIX + caps + "\n")
    assert got is not None and (got.width, got.height, got.fps, got.format) == pytest.approx(expected)


@pytest.mark.parametrize("line", [
    "/GstPipeline:pipeline0/GstCapsFilter:capsfilter0.GstPad:src: caps = video/x-raw, format=(string)BGR, "
    "width=(int)64, height=(int)48, framerate=(fraction)30/1",  # another element's caps
    "/GstPipeline:pipeline0/GstFdSink:camerapose_sink.GstPad:sink: caps = NULL",
    "Setting pipeline to PLAYING ...",
])
def test_other_lines_are_no_caps(line: str) -> None:
    assert parse_caps(line) is None


def test_bgr_rows_are_padded_to_4_bytes() -> None:
    odd = parse_caps(PREFIX + "video/x-raw, format=(string)BGR, width=(int)641, height=(int)3")
    assert odd is not None and odd.row_bytes == 1924  # 641 * 3 = 1923, padded
    assert parse_caps(PREFIX + "video/x-raw, width=(int)640, height=(int)3").row_bytes == 1920


@pytest.mark.parametrize(("lines", "expected"), [
    (['WARNING: erroneous pipeline: no element "nosuchelement"'], 'no element "nosuchelement"'),
    (["WARNING: erroneous pipeline: could not link videotestsrc0 to audioconvert0"],
     "could not link videotestsrc0 to audioconvert0"),
    (["Setting pipeline to PAUSED ...",
      "ERROR: from element /GstPipeline:pipeline0/GstFileSrc:filesrc0: Resource not found.",
      "Additional debug info:",
      "../plugins/elements/gstfilesrc.c(553): gst_file_src_start (): "
      "/GstPipeline:pipeline0/GstFileSrc:filesrc0:",
      'No such file "/nonexist"', "ERROR: pipeline doesn't want to preroll."],
     'filesrc0: Resource not found. (No such file "/nonexist")'),
    (["ERROR: from element /GstPipeline:pipeline0/GstV4l2Src:v4l2src0: Cannot identify device '/dev/video0'.",
      "Additional debug info:",
      "../sys/v4l2/v4l2_calls.c(608): gst_v4l2_open (): /GstPipeline:pipeline0/GstV4l2Src:v4l2src0:",
      "system error: No such file or directory"],
     "v4l2src0: Cannot identify device '/dev/video0'. (system error: No such file or directory)"),
    (['ERROR: pipeline could not be constructed: no element "foo".'],  # GStreamer 1.14 (JetPack 4)
     'pipeline could not be constructed: no element "foo".'),
    (["Setting pipeline to PLAYING ...", 'Got EOS from element "pipeline0".'], None),
])
def test_gst_launchs_own_error_becomes_one_line(lines: list[str], expected: str | None) -> None:
    assert error_line(lines) == expected


def test_exit_words() -> None:
    assert [exit_words(c) for c in (0, 1, -9)] == ["end of stream", "exit code 1", "killed by SIGKILL"]


# -- real pipelines ------------------------------------------------------------------------------
def _gst_children() -> list[int]:
    """Live gst-launch-1.0 processes whose parent is this process (none once every source closed)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name, rest = text[text.index("(") + 1: text.rindex(")")], text[text.rindex(")") + 2:].split()
        if name.startswith("gst-launch") and int(rest[1]) == os.getpid() and rest[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def _read_all(uri: str, cfg: CaptureConfig | None = None) -> list:
    with open_source(SourceSpec(uri), cfg or CaptureConfig(mode="offline")) as src:
        frames = []
        while (frame := src.read()) is not None:
            frames.append(frame)
        assert src.read() is None  # and stays ended
    return frames


@pytest.mark.slow
@needs_gst
def test_videotestsrc_gives_exactly_its_60_frames() -> None:
    t0 = time.monotonic()
    with open_source(SourceSpec(TEST_60), CaptureConfig(mode="offline")) as src:
        opened = time.monotonic() - t0
        assert (src.size, src.fps, src.paced, src.seekable) == ((640, 480), 30.0, True, False)
        frames = []
        while (frame := src.read()) is not None:
            frames.append(frame)
        child = src._proc
    assert child.returncode == 0 and not _gst_children()  # reaped at the end
    assert opened < 5
    assert [f.index for f in frames] == list(range(60))
    assert all(f.image.shape == (480, 640, 3) and f.image.dtype == np.uint8 for f in frames)
    assert np.allclose([f.t_media for f in frames], np.arange(60) / 30.0)
    assert len({f.image.tobytes() for f in frames}) > 30  # the ball moves


@pytest.mark.slow
@needs_gst
def test_odd_widths_are_unpadded_and_the_colour_is_bgr() -> None:
    # every pixel 0x336699 (R, G, B): padding read as pixels would shift rows and show zeros
    frames = _read_all("gst:videotestsrc num-buffers=3 pattern=solid-color foreground-color=0xff336699 "
                       "! video/x-raw,width=641,height=5,framerate=25/1")
    assert len(frames) == 3 and frames[0].image.shape == (5, 641, 3)
    assert (frames[0].image == np.array([0x99, 0x66, 0x33], np.uint8)).all()
    assert frames[0].image.flags.c_contiguous
    assert frames[1].t_media == pytest.approx(1 / 25)


@pytest.mark.slow
@needs_gst
def test_a_still_image_rate_is_the_configs(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "a.png"), np.full((50, 70, 3), (10, 100, 200), np.uint8))
    uri = f"gst:filesrc location={tmp_path / 'a.png'} ! pngdec ! imagefreeze num-buffers=4"
    frames = _read_all(uri)
    assert len(frames) == 4 and frames[1].t_media == pytest.approx(1 / 25)  # imagefreeze's 25/1
    still = f"gst:filesrc location={tmp_path / 'a.png'} ! pngdec"  # framerate=(fraction)0/1
    with open_source(SourceSpec(still), CaptureConfig(mode="offline", fps=12.5)) as src:
        assert src.fps == 12.5
        frame = src.read()
        assert frame is not None and (frame.image == (10, 100, 200)).all() and src.read() is None


@pytest.mark.slow
@needs_gst
def test_a_video_file_decoded_by_gstreamer(tmp_path: Path) -> None:
    path = tmp_path / "my clip.avi"  # a space: quoted in the pipeline as in a shell
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (320, 240))
    for i in range(12):
        out.write(np.full((240, 320, 3), 20 * i, np.uint8))
    out.release()
    frames = _read_all(f"gst:filesrc location='{path}' ! avidemux ! jpegdec")
    assert [f.index for f in frames] == list(range(12)) and frames[-1].t_media == pytest.approx(11 / 25)
    assert [int(f.image.mean() + 10) // 20 for f in frames] == list(range(12))  # in order


@pytest.mark.slow
@needs_gst
@pytest.mark.parametrize(("pipeline", "match"), [
    ("nosuchelement ! videoconvert", r'gst-launch-1.0 failed: no element "nosuchelement"$'),
    ("filesrc location=/no/such.mp4 ! decodebin",
     r'failed: filesrc0: Resource not found. \(No such file "/no/such.mp4"\)$'),
    ("videotestsrc ! audioconvert", "could not link videotestsrc0 to audioconvert0"),
    ("videotestsrc num-buffers=0", r"ended before its first frame \(end of stream\)"),
])
def test_a_pipeline_that_does_not_start_is_its_own_error(pipeline: str, match: str) -> None:
    t0 = time.monotonic()
    with pytest.raises(InputError, match=match) as err:
        open_source(SourceSpec("gst:" + pipeline), CaptureConfig())
    assert "\n" not in str(err.value) and time.monotonic() - t0 < 5
    assert not _gst_children()


@pytest.mark.slow
@needs_gst
def test_no_frames_within_the_timeout_is_an_error_not_a_hang(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gst, "START_TIMEOUT_S", 1.0)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:  # a port nobody sends to
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    uri = f"gst:udpsrc port={port} caps=video/x-raw,format=BGR,width=64,height=48,framerate=30/1"
    t0 = time.monotonic()
    with pytest.raises(InputError, match=r"no (frame|video caps) within 1 s"):
        open_source(SourceSpec(uri), CaptureConfig())
    assert time.monotonic() - t0 < 3 and not _gst_children()


@pytest.mark.slow
@needs_gst
@pytest.mark.parametrize("live", ["", " is-live=true"])
def test_closing_mid_stream_leaves_no_child(live: str) -> None:
    uri = f"gst:videotestsrc{live} ! video/x-raw,width=1280,height=720"  # a frame fills the pipe
    src = open_source(SourceSpec(uri), CaptureConfig())
    assert src.paced is not bool(live)
    for _ in range(3):
        assert src.read() is not None
    pid = src._proc.pid
    assert _gst_children() == [pid]
    t0 = time.monotonic()
    src.close()
    assert time.monotonic() - t0 < 1.5  # the capture stage has stop_timeout_s (1 s) to stop
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # exited and reaped
    src.close()  # twice is fine


@pytest.mark.slow
@needs_gst
def test_a_child_that_dies_mid_stream_ends_the_stream_with_a_warning(caplog: pytest.LogCaptureFixture
                                                                     ) -> None:
    with open_source(SourceSpec("gst:videotestsrc is-live=true ! video/x-raw,width=64,height=48"),
                     CaptureConfig()) as src:
        assert src.read() is not None
        os.kill(src._proc.pid, signal.SIGKILL)
        with caplog.at_level(logging.WARNING):
            while src.read() is not None:
                pass
    assert "the pipeline stopped after" in caplog.text and "killed by SIGKILL" in caplog.text


# -- whole runs ----------------------------------------------------------------------------------
def _run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "camerapose", "run", *args, "--publish", f"tcp://127.0.0.1:{free_port()}",
           "--stats-every", "0"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
@pytest.mark.assets
@needs_gst
def test_run_every_frame_saves_every_frame_of_the_pipeline(assets_dir: Path, pose_model: Path,
                                                           tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    r = _run("--source", TEST_60, "--every-frame", "--save", str(out), "--model", str(pose_model))
    assert r.returncode == 0, r.stderr[-2000:]
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [m["frame"] for m in lines] == list(range(60))
    assert all(m["image_size"] == [640, 480] and m["fps"] == 30.0 for m in lines)
    assert [m["t_media"] for m in lines] == pytest.approx([f / 30 for f in range(60)])
    assert "60 frames published" in r.stderr


@pytest.mark.slow
@pytest.mark.assets
@needs_gst
def test_run_with_a_bad_pipeline_is_one_line_exit_2(assets_dir: Path, pose_model: Path) -> None:
    t0 = time.monotonic()
    r = _run("--source", "gst:nosuchelement ! videoconvert", "--every-frame", "--model", str(pose_model),
             timeout=60)
    errors = [ln for ln in r.stderr.splitlines() if "error:" in ln]
    assert r.returncode == 2, r.stderr
    assert len(errors) == 1 and 'no element "nosuchelement"' in errors[0], r.stderr
    assert "Traceback" not in r.stderr and "restarting" not in r.stderr, r.stderr
    assert time.monotonic() - t0 < 15


@pytest.mark.slow
@pytest.mark.assets
@needs_gst
def test_detect_reads_a_pipeline_and_refuses_a_bad_one_in_one_line(assets_dir: Path) -> None:
    pipeline = "gst:videotestsrc num-buffers=12 ! video/x-raw,width=320,height=240"
    cmd = [sys.executable, "-m", "camerapose", "detect", pipeline, "--json"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    frames = [json.loads(line) for line in r.stdout.splitlines()]
    assert [f["frame"] for f in frames] == list(range(12))
    assert all(f["image_size"] == [320, 240] for f in frames)
    bad = subprocess.run([sys.executable, "-m", "camerapose", "detect", "gst:nosuchelement"],
                         capture_output=True, text=True, timeout=60)
    errors = [ln for ln in bad.stderr.splitlines() if "error:" in ln]
    assert bad.returncode == 2 and len(errors) == 1 and "nosuchelement" in errors[0], bad.stderr
    assert "Traceback" not in bad.stderr
