"""One TOML with every option and its documented default; user files and flags override it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from camerapose.core.errors import InputError
from camerapose.runtime.config import (
    DEFAULTS_TOML,
    RuntimeConfig,
    from_json,
    load_config,
    read_toml,
    to_json,
)


def test_shipped_toml_is_exactly_the_dataclass_defaults() -> None:
    cfg = load_config()
    default = RuntimeConfig()
    assert cfg == default
    assert from_json(to_json(cfg)) == cfg  # what travels to the stage processes


def test_shipped_toml_names_every_option() -> None:
    data = read_toml(DEFAULTS_TOML)
    text = DEFAULTS_TOML.read_text()

    def walk(cls, table: dict, where: str) -> None:
        for f in dataclasses.fields(cls):
            if dataclasses.is_dataclass(f.type if not isinstance(f.type, str) else None):
                continue
            sub = table.get(f.name)
            if isinstance(sub, dict):
                continue
            assert f.name in table or f"# {f.name} =" in text or f.name in ("onnx",), (
                f"{where}.{f.name} undocumented"
            )

    from camerapose.runtime.config import OutputConfig, SupervisorConfig
    from camerapose.runtime.detect.base import DetectorConfig
    from camerapose.runtime.lift import LiftConfig
    from camerapose.runtime.sources import CaptureConfig
    from camerapose.runtime.wire.publisher import PublishConfig

    for name, cls in (
        ("capture", CaptureConfig),
        ("detector", DetectorConfig),
        ("lift", LiftConfig),
        ("publish", PublishConfig),
        ("supervisor", SupervisorConfig),
        ("output", OutputConfig),
    ):
        walk(cls, data[name], name)


def test_user_file_and_overrides_layer_over_the_defaults(tmp_path: Path) -> None:
    user = tmp_path / "my.toml"
    user.write_text(
        '[sources]\nuri = ["a.mp4", "side=b.mp4"]\n[capture]\nmode = "offline"\n[publish]\nhwm = 5\n'
    )
    cfg = load_config(user, {"publish": {"hwm": 7}, "lift": {"intrinsics": [900, 900, 640, 360]}})
    assert [(s.name, s.uri) for s in cfg.sources] == [("0", "a.mp4"), ("side", "b.mp4")]
    assert cfg.capture.mode == "offline" and cfg.publish.hwm == 7
    assert cfg.lift.intrinsics == (900.0, 900.0, 640.0, 360.0)
    assert cfg.detector.max_persons == RuntimeConfig().detector.max_persons


@pytest.mark.parametrize(
    "text, match",
    [
        ("[capture\nmode = 1", "malformed TOML"),
        ("[capture]\nmoed = 'live'", "unknown option"),
        ("[capture]\nmode = 3", "expected str"),
        ("[capture]\nmode = 'sometimes'", "live"),
        ("[publish]\nendpoint = 'tcp://0.0.0.0:5555'", "allow-remote"),
        ("[publish]\nendpoint = 'udp://x'", "expected tcp"),
        ("[sources]\nuri = ['a=1', 'a=2']", "unique"),
    ],
)
def test_malformed_config_is_one_clear_input_error(tmp_path: Path, text: str, match: str) -> None:
    p = tmp_path / "bad.toml"
    p.write_text(text)
    with pytest.raises(InputError, match=match):
        load_config(p)


def test_missing_config_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such config"):
        load_config(tmp_path / "nope.toml")


def test_teacher_3d_is_off_by_default_and_on_with_its_flag(tmp_path: Path) -> None:
    import argparse

    from camerapose.runtime.cli import _overrides, configure_run

    parser = argparse.ArgumentParser()
    configure_run(parser)
    assert load_config().publish.teacher_3d is False
    assert "publish" not in _overrides(parser.parse_args([]))
    assert load_config(None, _overrides(parser.parse_args(["--teacher-3d"]))).publish.teacher_3d is True
    user = tmp_path / "teacher.toml"
    user.write_text("[publish]\nteacher_3d = true\n")
    assert load_config(user).publish.teacher_3d is True
