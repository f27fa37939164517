"""The one config loader: dataclass defaults, then a TOML file, then `--set key.path=value` overrides.

    cfg = load(TrainConfig, "my.toml", ["step3.epochs=5", "run.out_dir=runs/x"])

A config is a tree of frozen dataclasses; a TOML table is a nested dataclass, a TOML value a field
of type bool, int, float, str or tuple (`tuple[float, ...]`, fixed `tuple[int, int]`, or a tuple of
dataclasses given as a list of tables). Every layer (a file, a `--set`, a command-line flag mapped
onto a key) is a `Layer`: where its values come from, for errors, and a nested dict. Layers are
checked one by one (unknown keys, types, nan/inf) and merged; the dataclasses are built once at
the end, so checks across fields (`__post_init__`) see the final values. Every problem is one
InputError line that starts with the layer it comes from:

    --set lift.smoth=false: unknown config key 'lift.smoth' (known here: model, backend, ...)
    my.toml: 'capture.retries' must be an integer, got 1.5

Pure apart from reading the TOML file; no argparse here.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import numbers
import sys
import typing
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from camerapose.core.errors import InputError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

T = TypeVar("T")
Layer = tuple[str, dict[str, Any]]  # (where the values come from, nested tables of values)


# -- layers -----------------------------------------------------------------------------------------
def read_toml(path: str | Path) -> dict[str, Any]:
    """A TOML file as nested dicts; a missing or malformed file is an InputError."""
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise InputError(f"{path}: no such config file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a folder, not a config file") from None
    except OSError as err:  # unreadable: permissions, a device...
        raise InputError(f"{path}: cannot read the config file ({err.strerror or err})") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a TOML text file (TOML is UTF-8)") from None
    except tomllib.TOMLDecodeError as err:
        raise InputError(f"{path}: malformed TOML ({err})") from None


def nest(key: str, value: Any) -> dict[str, Any]:
    """'a.b.c', v -> {"a": {"b": {"c": v}}}."""
    out: Any = value
    for part in reversed(key.split(".")):
        out = {part: out}
    return out


def set_layer(item: str) -> Layer:
    """One `--set key.path=value`: the value in TOML syntax (`3`, `false`, `[1, 2]`, `"text"`);
    a bare word that is not TOML (`onnx`, `runs/x`) is the string itself."""
    key, sep, text = item.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise InputError(f"--set {item}: expected key.path=value, e.g. lift.smooth=false")
    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        value = text
    return f"--set {item}", nest(key, value)


def layers(path: str | Path | None = None, sets: Sequence[str] = (),
           flags: Sequence[Layer] = ()) -> list[Layer]:
    """The layers of a command line, lowest precedence first: the TOML file, the flags, the --sets."""
    out = [(str(path), read_toml(path))] if path is not None else []
    return [*out, *flags, *(set_layer(s) for s in sets)]


# -- building ---------------------------------------------------------------------------------------
def load(cls: type[T], path: str | Path | None = None, sets: Sequence[str] = (),
         flags: Sequence[Layer] = ()) -> T:
    """Defaults of `cls`, then the TOML file, then the flags, then each `key.path=value` in `sets`."""
    return build(cls, layers(path, sets, flags))


def build(cls: type[T], layered: Iterable[Layer], base: T | None = None) -> T:
    """`base` (default `cls()`) with each layer applied in order; InputError on any bad value."""
    merged: dict[str, Any] = {}
    origin: dict[str, str] = {}  # dotted key -> the layer that set it last (last set = last in order)
    for source, data in layered:
        if not isinstance(data, dict):
            raise InputError(f"{source}: expected a table of config keys, got {data!r}")
        _check(cls, data, source, "", merged, origin)
    return _construct(cls, cls() if base is None else base, merged, origin, "")


def from_dict(cls: type[T], data: dict[str, Any], source: str) -> T:
    """`cls` from one nested dict (a stored config), over the defaults; `source` names it in errors."""
    return build(cls, [(source, data)])


def check_ranges(section: str, cfg: Any, **ranges: tuple[float, float]) -> None:
    """For a config's `__post_init__`: each named field of `cfg` (each item of a tuple field) must
    lie in its closed range (lo, hi), else InputError `section.field must be in [lo, hi], got v`.
    NaN lies in no range, and the upper bounds keep sleeps, buffers and solves finite."""
    for name, (lo, hi) in ranges.items():
        value = getattr(cfg, name)
        items = enumerate(value) if isinstance(value, tuple) else [(None, value)]
        for i, v in items:
            if not lo <= v <= hi:
                where = f"{section}.{name}" + ("" if i is None else f"[{i}]")
                raise InputError(f"{where} {range_message(lo, hi, v)}")


def range_message(lo: float, hi: float, got: Any) -> str:
    """The words every range check ends with (the loader's, a command-line flag's, an API
    argument's): `must be in [lo, hi], got v`."""
    return f"must be in [{lo:.10g}, {hi:.10g}], got {got!r}"


def unknown_key(source: str, key: str, known: Iterable[str]) -> InputError:
    """The error for a key no dataclass field has; `known`: the field names at that level."""
    return InputError(f"{source}: unknown config key {key!r} (known here: {', '.join(known)})")


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    """Field name -> resolved type of a config dataclass, in declaration order."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if f.init}


def _check(cls: type, data: dict[str, Any], source: str, prefix: str, out: dict[str, Any],
           origin: dict[str, str]) -> None:
    """Check `data` against `cls` and merge its converted values into `out` (nested like `data`)."""
    hints = _hints(cls)
    for key, value in data.items():
        where = f"{prefix}{key}"
        if key not in hints:
            raise unknown_key(source, where, hints)
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            if not isinstance(value, dict):
                raise InputError(f"{source}: {where!r} must be a table, got {value!r}")
            _check(hint, value, source, f"{where}.", out.setdefault(key, {}), origin)
        else:
            out[key] = _convert(hint, value, source, where)
            origin.pop(where, None)
            origin[where] = source


def _convert(hint: Any, value: Any, source: str, where: str) -> Any:
    """A TOML/JSON value as the field type `hint` wants it (ints widen to float, lists to tuples)."""
    if dataclasses.is_dataclass(hint):  # an item of a tuple of dataclasses
        return _item(hint, value, source, where)
    if typing.get_origin(hint) is tuple:
        if not isinstance(value, list | tuple):
            raise InputError(f"{source}: {where!r} must be a list, got {value!r}")
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            types = [args[0]] * len(value)
        elif len(value) != len(args):
            raise InputError(f"{source}: {where!r} must be a list of {len(args)} items, got {value!r}")
        else:
            types = list(args)
        pairs = enumerate(zip(types, value, strict=True))
        return tuple(_convert(t, v, source, f"{where}[{i}]") for i, (t, v) in pairs)
    if hint is bool:
        if not isinstance(value, bool):
            raise InputError(f"{source}: {where!r} must be true or false, got {value!r}")
        return value
    if hint is int:  # numpy integers too (from Python callers), stored as int
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise InputError(f"{source}: {where!r} must be an integer, got {value!r}")
        return int(value)
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise InputError(f"{source}: {where!r} must be a number, got {value!r}")
        try:
            number = float(value)
        except OverflowError:  # an int past float's range (10**400)
            number = math.inf
        if not math.isfinite(number):
            raise InputError(f"{source}: {where!r} must be a finite number, got {value!r}")
        return number
    if hint is str:
        if not isinstance(value, str):
            raise InputError(f"{source}: {where!r} must be a string, got {value!r}")
        return value
    raise TypeError(f"config field {where!r}: unsupported type {hint!r}")  # a config the loader can't hold


def _item(cls: type, value: Any, source: str, where: str) -> Any:
    """One dataclass in a list of tables (e.g. a source): built from its own defaults."""
    if not isinstance(value, dict):
        raise InputError(f"{source}: {where!r} must be a table, got {value!r}")
    values: dict[str, Any] = {}
    _check(cls, value, source, f"{where}.", values, {})
    required = [f.name for f in dataclasses.fields(cls)
                if f.init and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    missing = [name for name in required if name not in values]
    if missing:
        raise InputError(f"{source}: {where!r} lacks {', '.join(missing)}")
    try:
        return cls(**values)
    except (InputError, ValueError) as err:
        raise InputError(f"{source}: {where}: {err}") from None


def _construct(cls: type[T], base: T, values: dict[str, Any], origin: dict[str, str], prefix: str) -> T:
    """`base` with the checked `values` (nested tables become nested dataclasses) replaced in."""
    hints = _hints(cls)
    changes = {}
    for key, value in values.items():
        if dataclasses.is_dataclass(hints[key]):
            changes[key] = _construct(hints[key], getattr(base, key), value, origin, f"{prefix}{key}.")
        else:
            changes[key] = value
    try:
        return dataclasses.replace(base, **changes)
    except (InputError, ValueError) as err:
        # Blame the layer that set a value of this table last; an InputError already reads as a
        # user message, a plain ValueError gets the table it comes from.
        source = next((s for k, s in reversed(origin.items()) if k.startswith(prefix)), "defaults")
        table = prefix.rstrip(".")
        where = "" if isinstance(err, InputError) or not table else f"{table}: "
        raise InputError(f"{source}: {where}{err}") from None


# -- out --------------------------------------------------------------------------------------------
def to_dict(cfg: Any) -> dict[str, Any]:
    """A config as plain nested dicts (tuples as lists): for JSON, checkpoints and --print-config."""

    def plain(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [plain(x) for x in v]
        return v

    return plain(dataclasses.asdict(cfg))


def to_json(cfg: Any) -> str:
    return json.dumps(to_dict(cfg))


def from_json(cls: type[T], text: str) -> T:
    """The inverse of `to_json`, with the same checks as a file."""
    return from_dict(cls, json.loads(text), f"{cls.__name__} JSON")


def default_of(cls: type, key: str) -> Any:
    """The default of config key 'a.b' of `cls` (what `cls()` holds), e.g. for a flag's --help."""
    value: Any = cls()
    for part in key.split("."):
        value = getattr(value, part)
    return value
