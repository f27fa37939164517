"""The runtime's config: runtime.toml documents exactly the dataclass defaults; files, flags and
--set layer over them; bad values are one clear InputError."""

from __future__ import annotations

import argparse
import dataclasses
import math
import re
import typing
from pathlib import Path

import numpy as np
import pytest

from camerapose.core.config import read_toml
from camerapose.core.errors import InputError
from camerapose.core.one_euro import OneEuroConfig
from camerapose.runtime.cli import _overrides, configure_run
from camerapose.runtime.config import (
    DEFAULTS_TOML,
    OutputConfig,
    RuntimeConfig,
    SupervisorConfig,
    from_json,
    load_config,
    to_json,
)
from camerapose.runtime.detect.base import DetectorConfig, OnnxModelConfig
from camerapose.runtime.detect.tracker import TrackerConfig
from camerapose.runtime.lift_engine import LiftConfig
from camerapose.runtime.sources.base import CaptureConfig
from camerapose.runtime.wire.publisher import PublishConfig

# Fields whose default is a path on this machine: runtime.toml shows them as comments.
MACHINE_PATHS = {"detector.detector_model", "detector.landmark_model", "detector.detector_onnx",
                 "detector.landmark_onnx", "lift.model"}


def test_shipped_toml_sets_exactly_the_dataclass_defaults() -> None:
    cfg = load_config(DEFAULTS_TOML)
    assert cfg == RuntimeConfig()
    assert from_json(to_json(cfg)) == cfg  # what travels to the stage processes


def _commented_keys(text: str) -> set[str]:
    """'section.key' of every `# key = ...` line, under the table it sits in."""
    out, table = set(), ""
    for line in text.splitlines():
        if m := re.fullmatch(r"\[([\w.]+)\]\s*", line):
            table = m.group(1)
        elif m := re.match(r"# (\w+) = ", line):
            out.add(f"{table}.{m.group(1)}")
    return out


def test_shipped_toml_names_every_field() -> None:
    data = read_toml(DEFAULTS_TOML)
    commented = _commented_keys(DEFAULTS_TOML.read_text())
    assert commented == MACHINE_PATHS

    def walk(cls: type, table: dict, where: str) -> None:
        for f in dataclasses.fields(cls):
            key = f"{where}.{f.name}"
            value = getattr(cls(), f.name)
            if dataclasses.is_dataclass(value):
                assert isinstance(table.get(f.name), dict), f"[{key}] missing from runtime.toml"
                walk(type(value), table[f.name], key)
            else:
                assert f.name in table or key in MACHINE_PATHS, f"{key} missing from runtime.toml"

    for f in dataclasses.fields(RuntimeConfig):
        if f.name != "sources":
            walk(type(getattr(RuntimeConfig(), f.name)), data[f.name], f.name)
    assert data["sources"] == {"uri": [s.uri for s in RuntimeConfig().sources]}


def test_user_file_flags_and_sets_layer_over_the_defaults(tmp_path: Path) -> None:
    user = tmp_path / "my.toml"
    user.write_text(
        '[sources]\nuri = ["a.mp4", "side=b.mp4"]\n[capture]\nmode = "offline"\n[publish]\nhwm = 5\n'
    )
    flags = _overrides(_run_args("--hwm", "7", "--intrinsics", "900,900,640,360"))
    cfg = load_config(user, ["lift.smooth=false"], flags)
    assert [(s.name, s.uri) for s in cfg.sources] == [("0", "a.mp4"), ("side", "b.mp4")]
    assert cfg.capture.mode == "offline" and cfg.publish.hwm == 7
    assert cfg.lift.intrinsics == (900.0, 900.0, 640.0, 360.0) and cfg.lift.smooth is False
    assert cfg.detector.max_persons == RuntimeConfig().detector.max_persons
    # --set wins over the flag that sets the same key
    assert load_config(None, ["publish.hwm=9"], flags).publish.hwm == 9


def test_sources_can_be_set_from_the_command_line() -> None:
    cfg = load_config(None, ['sources.uri=["left=0", "1"]'])
    assert [(s.name, s.uri) for s in cfg.sources] == [("left", "0"), ("1", "1")]
    assert load_config(None, [], _overrides(_run_args("--source", "clip.mp4"))).sources[0].uri == "clip.mp4"


@pytest.mark.parametrize(
    "text, match",
    [
        ("[capture\nmode = 1", "malformed TOML"),
        ("[capture]\nmoed = 'live'", r"unknown config key 'capture\.moed' \(known here: mode, loop,"),
        ("[sources]\nurl = ['a']", r"unknown config key 'sources\.url' \(known here: uri\)"),
        ("[sources]\nuri = 'a.mp4'", "must be a list of strings"),
        ("[capture]\nmode = 3", "'capture.mode' must be a string, got 3"),
        ("[capture]\nmode = 'sometimes'", "live"),
        ("[capture]\nfps = nan", "'capture.fps' must be a finite number"),
        ("[publish]\nendpoint = 'tcp://0.0.0.0:5555'", "allow-remote"),
        ("[publish]\nendpoint = 'udp://x'", "expected tcp"),
        ("[sources]\nuri = ['a=1', 'a=2']", "unique"),
        ("[lift]\nintrinsics = [1, 2]", "intrinsics must be fx,fy,cx,cy"),
        ("[supervisor]\nheartbeat_timeout_s = -1", r"supervisor\.heartbeat_timeout_s must be in \["),
        ("[supervisor]\nstop_timeout_s = -0.5", r"supervisor\.stop_timeout_s must be in \["),
        ("[supervisor]\nmax_restarts = -1", r"supervisor\.max_restarts must be in \[0, "),
        ("[supervisor]\nheartbeat_s = 1.0\nheartbeat_timeout_s = 1.5", "at least twice heartbeat_s"),
        ("[capture]\nring_slots = 100000", r"capture\.ring_slots must be in \[2, "),
        ("[sources]\nuri = ['a.mp4', '']", "stream 1: empty source"),  # "" read the current folder
    ],
)
def test_malformed_config_is_one_clear_input_error(tmp_path: Path, text: str, match: str) -> None:
    p = tmp_path / "bad.toml"
    p.write_text(text)
    with pytest.raises(InputError, match=match) as err:
        load_config(p)
    assert str(err.value).startswith(f"{p}: ") and "\n" not in str(err.value)


def test_a_bad_flag_value_names_the_flag() -> None:
    with pytest.raises(InputError, match=r"^--max-persons 0: detector\.max_persons must be in \[1, "):
        load_config(None, [], _overrides(_run_args("--max-persons", "0")))


def test_missing_config_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such config"):
        load_config(tmp_path / "nope.toml")


def test_a_config_that_is_not_utf8_text_or_is_a_folder_is_one_input_error(tmp_path: Path) -> None:
    binary = tmp_path / "latin1.toml"
    binary.write_bytes(b"\xff\xfe[capture]\nmode = 'caf\xe9'\n")
    for path, match in ((binary, "not a TOML text file"), (tmp_path, "is a folder")):
        with pytest.raises(InputError, match=match) as err:
            load_config(path)
        assert str(err.value).startswith(f"{path}: ") and "\n" not in str(err.value)


# -- every number is checked --------------------------------------------------------------------
RUNTIME_CONFIGS = (CaptureConfig, DetectorConfig, TrackerConfig, OnnxModelConfig, LiftConfig,
                   PublishConfig, SupervisorConfig)


def _numeric_fields(cls: type) -> list[tuple[str, type]]:
    """(name, int | float) of each plain numeric field of a config dataclass."""
    hints = typing.get_type_hints(cls)
    return [(f.name, hints[f.name]) for f in dataclasses.fields(cls) if hints[f.name] in (int, float)]


def _bad_numbers() -> list:
    """(config class, field, a value outside every sane range) for every numeric field."""
    cases = []
    for cls in RUNTIME_CONFIGS:
        for name, kind in _numeric_fields(cls):
            bad = [-1, 10**12] if kind is int else [math.nan, math.inf, -math.inf, -1.0, 1e300]
            cases += [pytest.param(cls, name, v, id=f"{cls.__name__}.{name}={v}") for v in bad]
    return cases


@pytest.mark.parametrize("cls, name, value", _bad_numbers())
def test_every_numeric_option_rejects_values_out_of_its_range(cls: type, name: str, value: float) -> None:
    with pytest.raises(InputError, match=rf"\.{name} must be in \[") as err:
        cls(**{name: value})
    assert "\n" not in str(err.value)


def test_every_runtime_config_has_numeric_fields_under_check() -> None:
    """The parametrisation above covers every config of the runtime (OutputConfig has no number)."""
    assert all(_numeric_fields(cls) for cls in RUNTIME_CONFIGS)
    assert not _numeric_fields(OutputConfig)


@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_non_finite_one_euro_settings_are_refused_by_the_configs_that_hold_them(value: float) -> None:
    # OneEuroConfig (core) checks signs only: nan and inf pass it
    holders = (("detector.tracker.one_euro", lambda e: TrackerConfig(one_euro=e)),
               ("lift.one_euro", lambda e: LiftConfig(one_euro=e)))
    for where, make in holders:
        for name in ("min_cutoff", "beta", "d_cutoff"):
            with pytest.raises(InputError, match=rf"^{where}\.{name} must be in \["):
                make(OneEuroConfig(**{name: value}))


@pytest.mark.parametrize("k", [
    (math.nan, 900, 640, 360), (900, math.inf, 640, 360), (900, 900, math.nan, 360),
    (900, 900, 640, -math.inf), (0, 900, 640, 360), (1e-300, 1e-300, 640, 360),
    (900, 900, 1e308, -1e308), (900, 900, 640),
])
def test_intrinsics_must_be_a_plausible_camera(k: tuple[float, ...]) -> None:
    # a focal length of 1e-300 px or a centre at 1e308 px made the lift stage's root solve
    # singular: a traceback in the stage and a restart loop
    with pytest.raises(InputError, match=r"^lift\.intrinsics must be fx,fy,cx,cy"):
        LiftConfig(intrinsics=tuple(float(x) for x in k))
    assert LiftConfig(intrinsics=(1.0, 1e6, -1e6, 1e6)).intrinsics  # the bounds themselves are fine


@pytest.mark.parametrize("name, bad", [
    ("input_size", (0, 256)), ("input_size", (192, 100_000)), ("mean", (math.nan, 116.0, 103.0)),
    ("std", (58.0, 0.0, 57.0)), ("std", (58.0, 57.0, math.inf)),
])
def test_onnx_model_tuples_are_checked_item_by_item(name: str, bad: tuple) -> None:
    with pytest.raises(InputError, match=rf"^detector\.onnx\.{name}\[\d\] must be in \["):
        OnnxModelConfig(**{name: bad})


def _run_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    configure_run(parser)
    return parser.parse_args(list(argv))


def test_flags_left_out_change_nothing() -> None:
    assert _overrides(_run_args()) == []
    assert load_config(None, [], _overrides(_run_args())) == RuntimeConfig()


def test_teacher_3d_is_off_by_default_and_on_with_its_flag(tmp_path: Path) -> None:
    assert load_config().publish.teacher_3d is False
    assert load_config(None, [], _overrides(_run_args("--teacher-3d"))).publish.teacher_3d is True
    user = tmp_path / "teacher.toml"
    user.write_text("[publish]\nteacher_3d = true\n")
    assert load_config(user).publish.teacher_3d is True


def test_help_shows_the_dataclass_defaults() -> None:
    parser = argparse.ArgumentParser()
    configure_run(parser)
    text = " ".join(parser.format_help().split())
    default = RuntimeConfig()
    assert f"most persons per frame (default {default.detector.max_persons})" in text
    assert f"(default {default.publish.hwm})" in text and "--set KEY=VALUE" in text


# -- --intrinsics FILE[:CAMERA] -------------------------------------------------------------------
CALIB_TOML = """[cam_1]
name = "left"
size = [ 1088.0, 1920.0,]
matrix = [ [ 1681.2, 0.0, 533.0,], [ 0.0, 1681.1, 948.1,], [ 0.0, 0.0, 1.0,],]
distortions = [ -0.046, 0.14, 0.0006, 0.0007,]
rotation = [ 1.2, -0.4, 0.3,]
translation = [ 0.1, 0.9, 2.9,]

[cam_2]
name = "right"
size = [ 64.0, 48.0,]
matrix = [ [ 50.0, 0.0, 32.5,], [ 0.0, 51.0, 23.5,], [ 0.0, 0.0, 1.0,],]
distortions = [ 0.0, 0.0, 0.0, 0.0,]
rotation = [ 0.0, 0.0, 0.0,]
translation = [ 0.0, 0.0, 3.0,]

[metadata]
adjusted = false
"""
LEFT, RIGHT = (1681.2, 1681.1, 533.0, 948.1), (50.0, 51.0, 32.5, 23.5)


def test_intrinsics_from_a_calibration_file_everywhere_they_can_be_set(tmp_path: Path) -> None:
    from camerapose.runtime.inprocess import estimate_config

    rig = tmp_path / "Calib.toml"
    rig.write_text(CALIB_TOML)
    one = tmp_path / "phone.json"
    one.write_text('{"K": [[900, 0, 640], [0, 910, 360], [0, 0, 1]], "distCoeffs": [0.1, 0, 0, 0, 0]}')

    def flag(value: str) -> tuple[float, ...]:
        return load_config(None, [], _overrides(_run_args("--intrinsics", value))).lift.intrinsics

    assert flag(str(one)) == (900.0, 910.0, 640.0, 360.0)
    assert flag(f"{rig}:right") == RIGHT and flag(f"{rig}:left") == LEFT
    assert flag("900,900,640,360") == (900.0, 900.0, 640.0, 360.0)  # numbers as before
    assert load_config(None, [f"lift.intrinsics={rig}:left"]).lift.intrinsics == LEFT
    user = tmp_path / "my.toml"
    user.write_text(f'[lift]\nintrinsics = "{rig}:right"\n')
    assert load_config(user).lift.intrinsics == RIGHT
    assert estimate_config("clip.mp4", True, {"lift": {"intrinsics": f"{rig}:left"}}).lift.intrinsics == LEFT
    assert estimate_config("clip.mp4", True, {"lift.intrinsics": str(one)}).lift.intrinsics[0] == 900.0


@pytest.mark.parametrize("value, match", [
    ("{rig}", r"^--intrinsics {rig}: {rig}: holds 2 cameras \(left, right\); pick one with FILE:NAME$"),
    ("{rig}:front", r"^--intrinsics {rig}:front: {rig}: no camera 'front' \(cameras: left, right\)$"),
    ("{tmp}/absent.json", r"^--intrinsics {tmp}/absent.json: {tmp}/absent.json: no such calibration file$"),
    ("900,900,640", "lift.intrinsics must be fx,fy,cx,cy"),
    ("ninety", r"^--intrinsics ninety: expected four numbers FX,FY,CX,CY or a calibration file FILE\["),
])
def test_a_bad_intrinsics_file_is_one_line_naming_flag_and_file(tmp_path: Path, value: str, match: str
                                                                  ) -> None:
    rig = tmp_path / "Calib.toml"
    rig.write_text(CALIB_TOML)
    value = value.format(rig=rig, tmp=tmp_path)
    match = match.format(rig=re.escape(str(rig)), tmp=re.escape(str(tmp_path)))
    with pytest.raises(InputError, match=match):
        load_config(None, [], _overrides(_run_args("--intrinsics", value)))


def test_intrinsics_are_for_the_calibrated_image_size(tmp_path: Path, capsys) -> None:
    import cv2

    from camerapose.cli import main
    from camerapose.runtime.config import check_inputs

    rig = tmp_path / "Calib.toml"
    rig.write_text(CALIB_TOML)
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(2):
        cv2.imwrite(str(folder / f"{i:03d}.png"), np.zeros((48, 64, 3), np.uint8))
    model = tmp_path / "pose.onnx"
    model.write_bytes(b"")
    cfg = load_config(None, [], _overrides(_run_args("--source", str(folder), "--model", str(model))))
    check_inputs(cfg, intrinsics_size=(64, 48))  # the calibrated size: fine
    with pytest.raises(InputError, match=r"64x48 but lift\.intrinsics were calibrated for 1088x1920"):
        check_inputs(cfg, intrinsics_size=(1088, 1920))
    # the run command checks it for --intrinsics FILE, before anything starts: exit 2, one line
    code = main(["run", "--source", str(folder), "--model", str(model), "--intrinsics", f"{rig}:left"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and "calibrated for 1088x1920" in err, err


def test_a_bad_intrinsics_file_exits_2_with_one_line(tmp_path: Path, capsys) -> None:
    from camerapose.cli import main

    bad = tmp_path / "cams.json"
    bad.write_text('{"a": {"K": [[900, 0, 640], [0, 900, 360], [0, 0, 1]], "rvec": [0, 0, 0]}}')
    assert main(["run", "--intrinsics", f"{bad}:a", "--print-config"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"camerapose run: error: --intrinsics {bad}:a: {bad}: camera 'a': "
                   "rvec without its translation (tvec or t)")
