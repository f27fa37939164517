"""Inputs at the edges are one clear error, never a traceback (issue 21, items 5 and 6):

- every float option has a range a human could mean, checked by the loader or the shared
  argparse type (`camerapose.cli.number`), and stated in its --help; the Python API checks the same;
- sources: a webcam index past any camera, a path that is no file (a device, a FIFO, a symlink
  loop, a name over 255 bytes), stream names that look like URL schemes, names that break the rule,
  `estimate`'s argument types.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest

from camerapose.cli import main
from camerapose.core.config import nest
from camerapose.core.errors import InputError
from camerapose.runtime.config import check_inputs, load_config, parse_source
from camerapose.runtime.inprocess import estimate_config
from camerapose.runtime.sources import open_source
from camerapose.runtime.sources.base import CaptureConfig, SourceSpec

LONG = "a" * 300  # one name over the 255 bytes a file name can have


def one_line_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run `camerapose ARGV` here; it must exit 2 (argparse's SystemExit or main's return) with
    exactly one error line and no traceback. Returns that line."""
    try:
        code = main(argv)
    except SystemExit as stop:  # argparse: the usage, then one error line
        code = stop.code
    err = capsys.readouterr().err
    errors = [ln for ln in err.splitlines() if "error:" in ln]
    assert code == 2 and len(errors) == 1 and "Traceback" not in err, err
    return errors[0]


@pytest.fixture
def recording(tmp_path: Path) -> Path:
    path = tmp_path / "r.cprec"
    path.write_bytes(b"CPREC\x001\n")
    return path


# -- 5. numbers at the edges ----------------------------------------------------------------------
@pytest.mark.parametrize(("argv", "value"), [
    (["subscribe", "--timeout"], "1e10"),
    (["subscribe", "--timeout"], "0.001"),
    (["subscribe", "--timeout"], "nan"),
    (["record", "{tmp}/o.cprec", "--timeout"], "1e10"),
    (["replay", "{rec}", "--speed"], "1e-300"),
    (["replay", "{rec}", "--speed"], "1e308"),
    (["convert", "{rec}", "--to", "trc", "--fps"], "1e308"),
    (["convert", "{rec}", "--to", "trc", "--fps"], "1e-300"),
    (["convert", "{rec}", "--to", "trc", "--fps"], "inf"),
])
def test_a_float_flag_out_of_its_range_is_one_line_exit_2(argv, value, tmp_path, recording, capsys) -> None:
    argv = [a.format(tmp=tmp_path, rec=recording) for a in argv]
    line = one_line_exit_2([*argv, value], capsys)
    assert "must be in [" in line and repr(value) in line
    assert not (tmp_path / "o.cprec").exists()


@pytest.mark.parametrize(("argv", "where"), [
    (["run", "--print-config", "--wait-subscriber", "1e308"], "publish.wait_subscriber_s"),
    (["run", "--print-config", "--stats-every", "1e-300"], "supervisor.stats_every_s"),
    (["run", "--print-config", "--stats-every", "1e10"], "supervisor.stats_every_s"),
    (["replay", "{rec}", "--wait-subscriber", "inf"], "publish.wait_subscriber_s"),
])
def test_a_float_flag_of_a_config_key_is_checked_by_the_loader(argv, where, recording, capsys) -> None:
    line = one_line_exit_2([a.format(rec=recording) for a in argv], capsys)
    assert where in line


@pytest.mark.parametrize(("command", "ranges"), [
    ("subscribe", ["0.01 to 604800"]),
    ("record", ["0.01 to 604800"]),
    ("replay", ["0.01 to 1000", "0 to 86400"]),
    ("convert", ["0.01 to 1000"]),
    ("run", ["0 to 86400", "0.1 to 86400"]),
])
def test_help_states_the_range_of_every_float_flag(command: str, ranges: list[str], capsys) -> None:
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    for r in ranges:
        assert r in text


def test_the_ends_of_a_range_are_accepted(capsys) -> None:
    from camerapose.cli import number
    from camerapose.runtime.wire.client import TIMEOUT_RANGE

    parse = number(*TIMEOUT_RANGE)
    assert parse("0.01") == 0.01 and parse("604800") == 604800.0
    assert main(["run", "--print-config", "--stats-every", "0", "--wait-subscriber", "86400"]) == 0


@pytest.mark.parametrize("timeout", [1e308, 1e10, 0, -1, float("nan"), True, "5"])
def test_subscribe_refuses_a_timeout_no_human_means_at_the_call(timeout) -> None:
    from camerapose.runtime.wire.client import subscribe

    with pytest.raises(InputError, match=r"^subscribe: timeout must be"):
        subscribe("tcp://127.0.0.1:9", timeout=timeout)


@pytest.mark.parametrize("hwm", [0, -5, 10**9, 2.5, True, "100"])
def test_subscribe_refuses_a_queue_length_no_human_means_at_the_call(hwm) -> None:
    from camerapose.runtime.wire.client import subscribe

    with pytest.raises(InputError, match=r"^subscribe: hwm \(messages queued\) must be in \[1, 1000000\]"):
        subscribe("tcp://127.0.0.1:9", hwm=hwm)


def test_subscribe_takes_numpy_numbers_for_its_timeout() -> None:
    from camerapose.runtime.wire.client import subscribe

    messages = subscribe("tcp://127.0.0.1:9", timeout=np.float32(0.05))
    assert list(messages) == []  # nothing publishes there: it ends after the timeout


def test_record_and_replay_check_their_numbers_before_touching_a_file(tmp_path, recording) -> None:
    from camerapose.runtime.wire.publisher import PublishConfig
    from camerapose.runtime.wire.record import record, replay

    with pytest.raises(InputError, match=r"^record: timeout must be in \[0\.01, 604800\]"):
        record(tmp_path / "o.cprec", "tcp://127.0.0.1:9", timeout=1e10)
    assert not (tmp_path / "o.cprec").exists()
    for speed in (1e-300, 1e308, 0.0):
        with pytest.raises(InputError, match=r"^replay speed must be in \[0\.01, 1000\]"):
            replay(recording, PublishConfig(endpoint="tcp://127.0.0.1:9"), speed)


def test_the_loader_takes_numpy_numbers_and_refuses_an_int_past_float_range() -> None:
    cfg = estimate_config("clip.mp4", False, {"detector": {"max_persons": np.int64(2)},
                                               "capture": {"fps": np.float32(25)}})
    assert cfg.detector.max_persons == 2 and type(cfg.detector.max_persons) is int
    assert cfg.capture.fps == 25.0 and type(cfg.capture.fps) is float
    with pytest.raises(InputError, match=r"'capture\.fps' must be a finite number"):
        estimate_config("clip.mp4", False, {"capture.fps": 10**400})
    with pytest.raises(InputError, match="must be an integer"):
        estimate_config("clip.mp4", False, {"detector.max_persons": np.bool_(True)})


# -- 6. sources -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "uri", "name"), [
    ("tcp_left=clip.mp4", "clip.mp4", "tcp_left"),
    ("http-cam=0", "0", "http-cam"),
    ("rtsp2=rtsp://host/x?a=b", "rtsp://host/x?a=b", "rtsp2"),
    ("rtsp://host/stream?a=b", "rtsp://host/stream?a=b", "3"),
    ("udp://239.0.0.1:1234", "udp://239.0.0.1:1234", "3"),
    ("./a=b.mp4", "./a=b.mp4", "3"),
    ("clip.mp4", "clip.mp4", "3"),
])
def test_a_source_is_a_url_only_with_scheme_colon_slash_slash(text: str, uri: str, name: str) -> None:
    assert parse_source(text, 3) == SourceSpec(uri, name)


@pytest.mark.parametrize("text", ["my.cam=0", "a\nb=0", "=clip.mp4", "x" * 65 + "=0", "two words=0"])
def test_a_bad_stream_name_is_one_line_giving_the_rule(text: str) -> None:
    with pytest.raises(InputError, match=r"stream name .*: a name is 1 to 64 letters, digits, _ or -") as err:
        parse_source(text, 0)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("uri", ["2147483648", "10000", "9" * 5000])
def test_a_webcam_index_past_any_camera_is_refused_before_capture(uri: str) -> None:
    with pytest.raises(InputError, match=r"a webcam index is 0 to 9999"):
        load_config(flags=[("--source", nest("sources.uri", [uri]))])


def test_webcam_indices_are_ascii_digits() -> None:
    assert SourceSpec("9999").kind == "webcam"
    assert SourceSpec("\u00b2").kind == "file"  # a superscript 2 is a digit to str.isdigit, not to int()


def _special_paths(tmp_path: Path) -> dict[str, tuple[str, str]]:
    """case -> (path, the words its error must hold)."""
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "loop1").symlink_to(tmp_path / "loop2")
    (tmp_path / "loop2").symlink_to(tmp_path / "loop1")
    (tmp_path / "broken.mp4").symlink_to(tmp_path / "nowhere.mp4")
    cases = {
        "fifo": (str(tmp_path / "fifo"), "is a FIFO (named pipe), not a file or folder"),
        "symlink loop": (str(tmp_path / "loop1"), "too many levels of symbolic links"),
        "name over 255 bytes": (str(tmp_path / f"{LONG}.mp4"), "file name too long"),
        "broken symlink": (str(tmp_path / "broken.mp4"), "broken symbolic link"),
    }
    if os.path.exists("/dev/zero"):
        cases["char device"] = ("/dev/zero", "is a character device, not a file or folder")
    return cases


CASES = ["fifo", "symlink loop", "name over 255 bytes", "broken symlink", "char device"]


def _case(tmp_path: Path, case: str) -> tuple[str, str]:
    cases = _special_paths(tmp_path)
    if case not in cases:
        pytest.skip(f"no {case} here")
    return cases[case]


@pytest.mark.parametrize("case", CASES)
def test_a_source_path_that_is_no_file_says_what_it_is(tmp_path: Path, case: str) -> None:
    path, words = _case(tmp_path, case)
    cfg = load_config(flags=[("--source", nest("sources.uri", [path]))])
    with pytest.raises(InputError, match=re.escape(words)) as err:
        check_inputs(cfg, open_files=False)
    assert str(err.value).startswith(path) and "\n" not in str(err.value)
    with pytest.raises(InputError, match=re.escape(words)):
        open_source(SourceSpec(path), CaptureConfig())


@pytest.mark.parametrize("case", ["fifo", "symlink loop", "name over 255 bytes", "char device"])
def test_detect_names_a_video_path_that_is_no_file(tmp_path: Path, case: str, capsys) -> None:
    path, words = _case(tmp_path, case)
    assert words in one_line_exit_2(["detect", path], capsys)


def test_run_with_a_source_name_over_255_bytes_is_one_line_exit_2(tmp_path: Path, capsys) -> None:
    line = one_line_exit_2(["run", "--source", str(tmp_path / f"{LONG}.mp4")], capsys)
    assert line.endswith("file name too long (at most 255 bytes a name, 4095 a path)")


@pytest.mark.parametrize(("save", "words"), [
    ("{tmp}/" + LONG + ".jsonl", "file name too long"),
    ("{tmp}/" + LONG + "/poses.jsonl", "file name too long"),
    ("{tmp}/loop1/poses.jsonl", "too many levels of symbolic links"),
])
def test_a_save_path_the_system_cannot_take_is_one_line(tmp_path: Path, save: str, words: str,
                                                        capsys) -> None:
    (tmp_path / "loop1").symlink_to(tmp_path / "loop2")
    (tmp_path / "loop2").symlink_to(tmp_path / "loop1")
    line = one_line_exit_2(["run", "--print-config", "--save", save.format(tmp=tmp_path)], capsys)
    assert "output.save" in line and words in line


def test_estimate_type_checks_every_frame_and_takes_numpy_integers() -> None:
    for bad in ("no", 1, None):
        with pytest.raises(InputError, match=r"^estimate: every_frame must be True or False"):
            estimate_config("clip.mp4", bad, {})
    assert estimate_config("clip.mp4", np.bool_(True), {}).capture.mode == "offline"
    assert estimate_config(np.int64(2), False, {}).sources[0].uri == "2"
    with pytest.raises(InputError, match="a webcam index is 0"):
        estimate_config(-1, False, {})


def test_estimate_with_a_path_over_255_bytes_is_an_input_error_at_the_call(tmp_path: Path) -> None:
    from camerapose.runtime.inprocess import estimate

    with pytest.raises(InputError, match="file name too long"):
        estimate(tmp_path / f"{LONG}.mp4")
