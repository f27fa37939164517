"""The one config loader: defaults < file < --set, checked keys and types, one error wording."""

import math
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from camerapose.core.config import (
    build,
    default_of,
    from_dict,
    from_json,
    load,
    nest,
    set_layer,
    to_dict,
    to_json,
)
from camerapose.core.errors import InputError

# No `from __future__ import annotations` here: the loader resolves these types from this module.


@dataclass(frozen=True)
class Filter:
    cutoff: float = 1.0
    on: bool = True

    def __post_init__(self) -> None:
        if self.cutoff <= 0:
            raise ValueError(f"cutoff must be > 0, got {self.cutoff}")


@dataclass(frozen=True)
class Spec:
    uri: str
    name: str = "0"


@dataclass(frozen=True)
class Stage:
    mode: str = "live"
    count: int = 3
    sizes: tuple[int, ...] = (1, 2)
    pair: tuple[int, int] = (192, 256)
    filter: Filter = field(default_factory=Filter)


@dataclass(frozen=True)
class Root:
    stage: Stage = field(default_factory=Stage)
    other: Stage = field(default_factory=lambda: Stage(count=7, filter=Filter(cutoff=2.0)))
    specs: tuple[Spec, ...] = ()


def _toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "my.toml"
    path.write_text(text)
    return path


def test_defaults_then_file_then_set(tmp_path: Path) -> None:
    path = _toml(tmp_path, "[stage]\ncount = 5\nmode = 'offline'\n")
    assert load(Root) == Root()
    assert load(Root, path).stage == Stage(count=5, mode="offline")
    cfg = load(Root, path, ["stage.count=9"])
    assert (cfg.stage.count, cfg.stage.mode) == (9, "offline")
    assert load(Root, None, ["stage.count=1", "stage.count=2"]).stage.count == 2  # last --set wins


def test_flags_sit_between_the_file_and_the_sets(tmp_path: Path) -> None:
    path = _toml(tmp_path, "[stage]\ncount = 5\nmode = 'offline'\n")
    flag = ("--count 6", nest("stage.count", 6))
    assert load(Root, path, [], [flag]).stage.count == 6
    assert load(Root, path, ["stage.count=8"], [flag]).stage.count == 8


def test_a_nested_table_keeps_the_parents_own_default() -> None:
    cfg = load(Root, None, ["other.filter.on=false"])
    assert cfg.other.filter == Filter(cutoff=2.0, on=False) and cfg.other.count == 7


def test_unknown_key_wording_names_the_layer_and_the_known_keys(tmp_path: Path) -> None:
    with pytest.raises(InputError) as err:
        load(Root, None, ["stage.filter.cutof=2"])
    assert str(err.value) == (
        "--set stage.filter.cutof=2: unknown config key 'stage.filter.cutof' (known here: cutoff, on)"
    )
    path = _toml(tmp_path, "[stag]\ncount = 1\n")
    with pytest.raises(InputError) as err:
        load(Root, path)
    assert str(err.value) == f"{path}: unknown config key 'stag' (known here: stage, other, specs)"


@pytest.mark.parametrize(
    "item, message",
    [
        ("stage.count=1.5", "'stage.count' must be an integer, got 1.5"),
        ("stage.count=true", "'stage.count' must be an integer, got True"),
        ("stage.filter.on=1", "'stage.filter.on' must be true or false, got 1"),
        ("stage.filter.cutoff=yes", "'stage.filter.cutoff' must be a number, got 'yes'"),
        ("stage.mode=3", "'stage.mode' must be a string, got 3"),
        ("stage.sizes=3", "'stage.sizes' must be a list, got 3"),
        ("stage.sizes=[1, 'a']", "'stage.sizes[1]' must be an integer, got 'a'"),
        ("stage.pair=[1, 2, 3]", "'stage.pair' must be a list of 2 items, got [1, 2, 3]"),
        ("stage=3", "'stage' must be a table, got 3"),
        ("specs=[{name = 'a'}]", "'specs[0]' lacks uri"),
    ],
)
def test_wrong_types_are_one_line_input_errors(item: str, message: str) -> None:
    with pytest.raises(InputError) as err:
        load(Root, None, [item])
    assert str(err.value) == f"--set {item}: {message}"


@pytest.mark.parametrize("text", ["nan", "inf", "-inf"])
def test_non_finite_floats_are_rejected(text: str) -> None:
    with pytest.raises(InputError, match=r"'stage\.filter\.cutoff' must be a finite number"):
        load(Root, None, [f"stage.filter.cutoff={text}"])
    with pytest.raises(InputError, match="must be a finite number"):
        from_json(Root, '{"stage": {"filter": {"cutoff": NaN}}}')


def test_values_are_toml_and_a_bare_word_is_a_string() -> None:
    assert load(Root, None, ["stage.mode=offline"]).stage.mode == "offline"
    assert load(Root, None, ['stage.mode="with spaces"']).stage.mode == "with spaces"
    assert load(Root, None, ["stage.mode=runs/x.mp4"]).stage.mode == "runs/x.mp4"
    assert load(Root, None, ["stage.filter.cutoff=3"]).stage.filter.cutoff == 3.0  # int widens to float
    assert isinstance(load(Root, None, ["stage.filter.cutoff=3"]).stage.filter.cutoff, float)
    assert load(Root, None, ["stage.filter={cutoff = 4.0, on = false}"]).stage.filter == Filter(4.0, False)


@pytest.mark.parametrize("item", ["nonsense", "=3", "stage..count=1", ""])
def test_a_set_without_a_key_is_an_input_error(item: str) -> None:
    with pytest.raises(InputError, match=r"expected key\.path=value"):
        set_layer(item)


def test_tuple_fields_and_lists_of_tables() -> None:
    specs = 'specs=[{uri = "a.mp4"}, {uri = "0", name = "b"}]'
    cfg = load(Root, None, ["stage.sizes=[]", "stage.pair=[3, 4]", specs])
    assert cfg.stage.sizes == () and cfg.stage.pair == (3, 4)
    assert cfg.specs == (Spec("a.mp4"), Spec("0", "b"))


def test_post_init_errors_name_the_layer_and_the_table(tmp_path: Path) -> None:
    path = _toml(tmp_path, "[stage.filter]\ncutoff = 0.5\n")
    with pytest.raises(InputError) as err:
        load(Root, path, ["stage.filter.cutoff=-1"])
    assert str(err.value) == "--set stage.filter.cutoff=-1: stage.filter: cutoff must be > 0, got -1.0"


def test_checks_across_fields_see_the_final_values(tmp_path: Path) -> None:
    """A file value that is only invalid on its own is fine when a later layer fixes it."""
    path = _toml(tmp_path, "[stage.filter]\ncutoff = -1.0\n")
    with pytest.raises(InputError) as err:
        load(Root, path)
    assert str(err.value).startswith(f"{path}: stage.filter: cutoff must be > 0")
    assert load(Root, path, ["stage.filter.cutoff=1.5"]).stage.filter.cutoff == 1.5


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such config file"):
        load(Root, tmp_path / "none.toml")
    with pytest.raises(InputError, match=r"my\.toml: malformed TOML"):
        load(Root, _toml(tmp_path, "[stage\n"))


def test_dicts_and_json_round_trip() -> None:
    cfg = load(Root, None, ['specs=[{uri = "a.mp4"}]', "stage.sizes=[4, 5]"])
    plain = to_dict(cfg)
    assert plain["stage"]["sizes"] == [4, 5] and plain["specs"] == [{"uri": "a.mp4", "name": "0"}]
    assert from_dict(Root, plain, "stored") == cfg
    assert from_json(Root, to_json(cfg)) == cfg
    with pytest.raises(InputError, match=r"^stored: unknown config key 'extra'"):
        from_dict(Root, {**plain, "extra": 1}, "stored")


def test_build_over_a_given_base() -> None:
    base = Root(stage=Stage(count=11))
    assert build(Root, [("x", {"stage": {"mode": "offline"}})], base).stage == Stage(count=11, mode="offline")


def test_default_of_reads_the_dataclass_defaults() -> None:
    assert default_of(Root, "other.count") == 7
    assert math.isclose(default_of(Root, "other.filter.cutoff"), 2.0)
    assert default_of(Stage, "pair") == (192, 256)
