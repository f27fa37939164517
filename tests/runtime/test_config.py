"""The runtime's config: runtime.toml documents exactly the dataclass defaults; files, flags and
--set layer over them; bad values are one clear InputError."""

from __future__ import annotations

import argparse
import dataclasses
import re
from pathlib import Path

import pytest

from camerapose.core.config import read_toml
from camerapose.core.errors import InputError
from camerapose.runtime.cli import _overrides, configure_run
from camerapose.runtime.config import DEFAULTS_TOML, RuntimeConfig, from_json, load_config, to_json

# Fields whose default is a path on this machine: runtime.toml shows them as comments.
MACHINE_PATHS = {"detector.detector_model", "detector.landmark_model", "lift.model"}


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
    ],
)
def test_malformed_config_is_one_clear_input_error(tmp_path: Path, text: str, match: str) -> None:
    p = tmp_path / "bad.toml"
    p.write_text(text)
    with pytest.raises(InputError, match=match) as err:
        load_config(p)
    assert str(err.value).startswith(f"{p}: ") and "\n" not in str(err.value)


def test_a_bad_flag_value_names_the_flag() -> None:
    with pytest.raises(InputError, match=r"^--max-persons 0: detector: max_persons"):
        load_config(None, [], _overrides(_run_args("--max-persons", "0")))


def test_missing_config_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such config"):
        load_config(tmp_path / "nope.toml")


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
