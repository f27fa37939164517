"""The runtime's configuration: one frozen dataclass per stage, loaded from ONE TOML file.

`runtime/runtime.toml` lists every option with its default and what it does; a user file holds
only what it changes (same sections), and CLI flags override both. Unknown sections or keys, wrong
types and malformed TOML are InputErrors naming the file and the key. The config travels to the
stage processes as JSON (`to_json` / `from_json`), never as a pickle.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from camerapose.core.errors import InputError
from camerapose.runtime.detect.base import DetectorConfig
from camerapose.runtime.wire.publisher import PublishConfig

from .lift import LiftConfig
from .sources import CaptureConfig, SourceSpec

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEFAULTS_TOML = Path(__file__).with_name("runtime.toml")


@dataclass(frozen=True)
class SupervisorConfig:
    """heartbeat_s: how often stages report; heartbeat_timeout_s: a silent stage is killed and
    restarted; start_timeout_s: time a stage has to load its models; max_restarts: per stage, then
    the run stops with an error; stats_every_s: the periodic log line (0 = off); stop_timeout_s:
    time a stage gets to exit on shutdown before it is killed."""

    heartbeat_s: float = 0.25
    heartbeat_timeout_s: float = 5.0
    start_timeout_s: float = 60.0
    max_restarts: int = 3
    stats_every_s: float = 5.0
    stop_timeout_s: float = 1.0


@dataclass(frozen=True)
class OutputConfig:
    """annotate: write an annotated video here ("" = none); show: open a window; view3d: draw the
    small 3D view in the annotated video / window."""

    annotate: str = ""
    show: bool = False
    view3d: bool = True


@dataclass(frozen=True)
class RuntimeConfig:
    sources: tuple[SourceSpec, ...] = (SourceSpec("0", "0"),)
    capture: CaptureConfig = field(default_factory=CaptureConfig)
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    lift: LiftConfig = field(default_factory=LiftConfig)
    publish: PublishConfig = field(default_factory=PublishConfig)
    supervisor: SupervisorConfig = field(default_factory=SupervisorConfig)
    output: OutputConfig = field(default_factory=OutputConfig)

    def __post_init__(self) -> None:
        names = [s.name for s in self.sources]
        if not names:
            raise InputError("no source: give --source (webcam index, file, folder or URL)")
        if len(set(names)) != len(names):
            raise InputError(f"stream names must be unique, got {names}")
        for n in names:
            if not re.fullmatch(r"[A-Za-z0-9_\-]{1,64}", n):
                raise InputError(f"stream name {n!r}: use letters, digits, _ and - (at most 64)")


def parse_source(text: str, position: int) -> SourceSpec:
    """'NAME=URI' or 'URI' (named by its position: "0", "1"...)."""
    m = re.fullmatch(r"([A-Za-z0-9_\-]{1,64})=(.+)", text)
    if m and not text.lower().startswith(("rtsp", "http", "udp", "tcp", "rtmp")):
        return SourceSpec(m.group(2), m.group(1))
    return SourceSpec(text, str(position))


# -- dataclasses <-> plain dicts (TOML / JSON) ---------------------------------------------------
def _build(cls: type, data: dict[str, Any], where: str) -> Any:
    if not isinstance(data, dict):
        raise InputError(f"{where}: expected a table, got {type(data).__name__}")
    hints = typing.get_type_hints(cls, vars(sys.modules[cls.__module__]))
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise InputError(f"{where}: unknown option(s) {unknown}; known: {sorted(fields)}")
    kwargs = {k: _value(hints[k], v, f"{where}.{k}") for k, v in data.items()}
    try:
        return cls(**kwargs)
    except InputError:
        raise
    except (TypeError, ValueError) as err:
        raise InputError(f"{where}: {err}") from None


def _value(hint: Any, v: Any, where: str) -> Any:
    if dataclasses.is_dataclass(hint):
        return _build(hint, v, where)
    origin = typing.get_origin(hint)
    if origin is tuple:
        if not isinstance(v, list | tuple):
            raise InputError(f"{where}: expected a list, got {type(v).__name__}")
        args = typing.get_args(hint)
        inner = args[0] if args else Any
        if dataclasses.is_dataclass(inner):
            return tuple(_build(inner, x, f"{where}[{i}]") for i, x in enumerate(v))
        return tuple(_scalar(inner, x, where) for x in v)
    return _scalar(hint, v, where)


def _scalar(hint: Any, v: Any, where: str) -> Any:
    ok = {
        bool: isinstance(v, bool),
        int: isinstance(v, int) and not isinstance(v, bool),
        float: isinstance(v, int | float) and not isinstance(v, bool),
        str: isinstance(v, str),
        dict: isinstance(v, dict),
    }.get(hint, True)
    if not ok:
        raise InputError(f"{where}: expected {getattr(hint, '__name__', hint)}, got {type(v).__name__} {v!r}")
    return float(v) if hint is float else v


def to_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def to_json(cfg: RuntimeConfig) -> str:
    return json.dumps(to_dict(cfg))


def from_json(text: str) -> RuntimeConfig:
    return _build(RuntimeConfig, json.loads(text), "config")


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise InputError(f"{path}: no such config file") from None
    except tomllib.TOMLDecodeError as err:
        raise InputError(f"{path}: malformed TOML ({err})") from None


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> RuntimeConfig:
    """Defaults (runtime.toml) <- user TOML <- overrides {"section": {key: value}} -> RuntimeConfig."""
    data = read_toml(DEFAULTS_TOML)
    where = str(DEFAULTS_TOML)
    if path is not None:
        user = read_toml(Path(path))
        where = str(path)
        data = _merge(data, user)
    data = _merge(data, overrides or {})
    srcs = data.pop("sources", {}).get("uri", [])
    if not isinstance(srcs, list) or not all(isinstance(s, str) for s in srcs):
        raise InputError(f"{where}: [sources] uri must be a list of strings")
    sections = {k: v for k, v in data.items()}
    specs = [parse_source(s, i) for i, s in enumerate(srcs)]
    built = _build(RuntimeConfig, {**sections, "sources": [dataclasses.asdict(s) for s in specs]}, where)
    return built
