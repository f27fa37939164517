"""The runtime's configuration: one frozen dataclass per stage, one TOML file, `--set` overrides.

`runtime/runtime.toml` lists every option with its default and what it does (a test keeps it equal
to the dataclass defaults); a user file holds only what it changes (same sections), and CLI flags
and `--set section.key=value` override both (`camerapose.core.config`: unknown keys, wrong types
and malformed TOML are one-line InputErrors naming the file or flag and the key). The one step of
the runtime's own are `[sources] uri`, a list of "NAME=URI" strings, which becomes SourceSpecs, and
`lift.intrinsics` given as a calibration file "FILE[:CAMERA]", which becomes its (fx, fy, cx, cy). The
config travels to the stage processes as JSON (`to_json` / `from_json`), never as a pickle.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from camerapose.core import config
from camerapose.core.calibration import SUFFIXES, read_calibration, read_camera, split_camera_spec
from camerapose.core.camera import Camera
from camerapose.core.config import Layer, check_ranges
from camerapose.core.errors import InputError
from camerapose.core.fuse import FuseConfig
from camerapose.runtime.detect.base import DetectorConfig
from camerapose.runtime.wire.publisher import PublishConfig

from .lift_engine import LiftConfig
from .sources.base import CaptureConfig, SourceSpec, check_stream_name, os_reason, path_problem

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

    def __post_init__(self) -> None:
        check_ranges("supervisor", self, heartbeat_s=(0.01, 60), heartbeat_timeout_s=(0.02, 3600),
                     start_timeout_s=(0.1, 86400), max_restarts=(0, 1000), stats_every_s=(0, 86400),
                     stop_timeout_s=(0, 600))
        if 0 < self.stats_every_s < 0.1:  # a log line on every tick
            raise InputError(f"supervisor.stats_every_s must be 0 (off) or in [0.1, 86400], "
                             f"got {self.stats_every_s!r}")
        if self.heartbeat_timeout_s < 2 * self.heartbeat_s:  # else stages die between two heartbeats
            raise InputError(f"supervisor.heartbeat_timeout_s ({self.heartbeat_timeout_s:g}) must be at "
                             f"least twice heartbeat_s ({self.heartbeat_s:g})")


SAVE_FORMATS = (".jsonl", ".npz", ".csv", ".mcap")


@dataclass(frozen=True)
class OutputConfig:
    """annotate: write an annotated video here ("" = none); show: open a window; view3d: draw the
    small 3D view in the annotated video / window; save: also write every published message to
    this file, its format by extension (SAVE_FORMATS; "" = none); rerun: write a rerun recording
    (.rrd) of the frames, 2D and 3D skeletons and cameras here ("" = none)."""

    annotate: str = ""
    show: bool = False
    view3d: bool = True
    save: str = ""
    rerun: str = ""

    def __post_init__(self) -> None:
        if self.save:
            check_save_path(self.save)
        if self.rerun and not self.rerun.lower().endswith(".rrd"):
            raise InputError(f"output.rerun {self.rerun!r}: a rerun recording's name ends in .rrd")

    @property
    def draws(self) -> bool:
        """Whether the run needs the frames after publishing (the annotate stage)."""
        return bool(self.annotate or self.show or self.rerun)


def check_save_path(path: str) -> None:
    """InputError (one line) unless `path` ends in a SAVE_FORMATS extension and its folder exists
    and is writable: found when the config is read, not after a whole run."""
    try:
        os.stat(path)
    except FileNotFoundError:  # to be made (its folder is checked below)
        pass
    except OSError as err:  # a name too long, a symlink loop...
        raise InputError(f"output.save {path!r}: {os_reason(err)}") from None
    except ValueError:
        raise InputError(f"output.save {path!r}: not a path (it holds a NUL character)") from None
    if Path(path).suffix.lower() not in SAVE_FORMATS:
        raise InputError(f"output.save {path!r}: the extension picks the format; use one of "
                         f"{', '.join(SAVE_FORMATS)}")
    folder = Path(path).resolve().parent
    if not folder.is_dir():
        raise InputError(f"output.save {path!r}: no such folder {str(folder)!r}")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(f"output.save {path!r}: the folder {str(folder)!r} is not writable")
    if Path(path).is_dir():
        raise InputError(f"output.save {path!r}: is a folder, not a file")


@dataclass(frozen=True)
class RuntimeConfig:
    sources: tuple[SourceSpec, ...] = (SourceSpec("0", "0"),)
    capture: CaptureConfig = field(default_factory=CaptureConfig)
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    lift: LiftConfig = field(default_factory=LiftConfig)
    publish: PublishConfig = field(default_factory=PublishConfig)
    supervisor: SupervisorConfig = field(default_factory=SupervisorConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    fuse: FuseConfig = field(default_factory=FuseConfig)

    def __post_init__(self) -> None:
        names = [s.name for s in self.sources]
        if not names:
            raise InputError("no source: give --source (webcam index, file, folder or URL)")
        if len(set(names)) != len(names):
            raise InputError(f"stream names must be unique, got {names}")
        for n in names:
            check_stream_name(n)


# scheme:// (a URL) or gst: (a pipeline, whose properties hold "="): never NAME=URI
URL_START = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://|(?i:gst:)")


def parse_source(text: str, position: int) -> SourceSpec:
    """'NAME=URI' or 'URI' (named by its position: "0", "1"...). A URL (`scheme://...`) is never
    split at its '='; otherwise what stands before the first '=' is the name unless it holds a '/'
    (`./a=b.mp4` is a file), and a name that breaks the rule (STREAM_NAME_RULE) is an InputError."""
    if not URL_START.match(text):
        name, sep, uri = text.partition("=")
        if sep and "/" not in name and "\\" not in name:
            check_stream_name(name)
            return SourceSpec(uri, name)
    return SourceSpec(text, str(position))


# -- loading -------------------------------------------------------------------------------------
def load_config(path: str | Path | None = None, sets: Sequence[str] = (),
                flags: Sequence[Layer] = ()) -> RuntimeConfig:
    """Defaults <- the TOML file <- flags <- each `--set key.path=value` -> RuntimeConfig."""
    layers = config.layers(path, sets, flags)
    return config.build(RuntimeConfig, [_intrinsics_file(_source_specs(layer)) for layer in layers])


def _source_specs(layer: Layer) -> Layer:
    """A layer's `[sources] uri = ["[NAME=]URI", ...]` as the list of SourceSpec tables that
    RuntimeConfig.sources holds; a layer without uri leaves the sources as they are."""
    where, data = layer
    table = data.get("sources")
    if table is None:
        return layer
    if not isinstance(table, dict):
        raise InputError(f"{where}: 'sources' must be a table, got {table!r}")
    for key in table:
        if key != "uri":
            raise config.unknown_key(where, f"sources.{key}", ["uri"])
    rest = {k: v for k, v in data.items() if k != "sources"}
    if "uri" not in table:
        return where, rest
    uris = table["uri"]
    if not isinstance(uris, list) or not all(isinstance(u, str) for u in uris):
        raise InputError(f"{where}: 'sources.uri' must be a list of strings, got {uris!r}")
    try:
        specs = [dataclasses.asdict(parse_source(u, i)) for i, u in enumerate(uris)]
    except InputError as err:
        raise InputError(f"{where}: {err}") from None
    return where, {**rest, "sources": specs}


def read_intrinsics(spec: str) -> tuple[list[float], tuple[int, int] | None]:
    """lift.intrinsics as a calibration file, "FILE" (of one camera) or "FILE:CAMERA" -> ([fx, fy,
    cx, cy] pixels, the (width, height) they were calibrated at, or None if the file has no size)."""
    if not str(split_camera_spec(spec)[0]).lower().endswith(SUFFIXES):
        raise InputError(f"expected four numbers FX,FY,CX,CY or a calibration file FILE[:CAMERA] "
                         f"({', '.join(SUFFIXES)}), got {spec!r}")
    _, cam = read_camera(spec)
    size = None if cam.width is None or cam.height is None else (cam.width, cam.height)
    return [cam.fx, cam.fy, cam.cx, cam.cy], size


def _intrinsics_file(layer: Layer) -> Layer:
    """A layer's `lift.intrinsics = "FILE[:CAMERA]"` as the camera's [fx, fy, cx, cy]; numbers (or
    anything else, for the loader's own type error) stay as they are."""
    where, data = layer
    lift = data.get("lift")
    if not isinstance(lift, dict) or not isinstance(lift.get("intrinsics"), str):
        return layer
    try:
        k, _ = read_intrinsics(lift["intrinsics"])
    except InputError as err:
        key = "" if "intrinsics" in where else "lift.intrinsics: "  # `--intrinsics F` names it already
        raise InputError(f"{where}: {key}{err}") from None
    return where, {**data, "lift": {**lift, "intrinsics": k}}


def to_json(cfg: RuntimeConfig) -> str:
    """The config as the stage processes receive it."""
    return config.to_json(cfg)


def from_json(text: str) -> RuntimeConfig:
    return config.from_json(RuntimeConfig, text)


def check_inputs(cfg: RuntimeConfig, open_files: bool = True,
                 intrinsics_size: tuple[int, int] | None = None) -> None:
    """Fail fast, before anything starts, on what can be checked without opening devices: file
    sources exist (with `open_files`, files and folders also open and their first frame decodes,
    and, given the (width, height) lift.intrinsics were calibrated at, have that size) and the pose
    model is there. InputError, one line."""
    from .sources import open_source

    fused = {}
    if cfg.fuse.calibration:
        fused = dict(zip((s.name for s in cfg.sources), fuse_cameras(cfg), strict=True))
    for s in cfg.sources:
        if s.kind == "file" and (problem := path_problem(s.uri)) is not None:
            raise InputError(f"{s.uri}: {problem}")
        if open_files and s.kind in ("file", "folder"):
            source = open_source(s, cfg.capture)
            source.close()
            name, cam = fused.get(s.name, ("", None))
            calibrated = (cam.width, cam.height) if cam is not None and cam.width else None
            if calibrated and source.size and tuple(source.size) != calibrated:
                raise InputError("{}: frames are {}x{} but camera {} of {} was calibrated for {}x{}".format(
                    s.uri, *source.size, name, cfg.fuse.calibration, cam.width, cam.height))
            if intrinsics_size and source.size and tuple(source.size) != tuple(intrinsics_size):
                # intrinsics are pixels of the calibrated image: another size (or a rotated video) is
                # another camera as far as K goes, and the 3D would be silently wrong
                raise InputError("{}: frames are {}x{} but lift.intrinsics were calibrated for {}x{}; give "
                                 "FX,FY,CX,CY for this size".format(s.uri, *source.size, *intrinsics_size))
    if not Path(cfg.lift.model).is_file():
        raise InputError(f"pose model {cfg.lift.model} is missing (export one with `camerapose export`)")


def fuse_cameras(cfg: RuntimeConfig) -> list[tuple[str, Camera]]:
    """Each source's camera of `fuse.calibration`, in source order: [(camera name, Camera)].

    A source takes the camera `fuse.cameras` names at its position; else the camera named like its
    stream, or like its file's stem, or the one camera whose name the stem contains
    (`pose2sim_multi_cam01.mp4` -> cam01); else, when no source matched by name and there are as
    many cameras as sources, the cameras in the file's order. InputError (one line) for a source
    without a camera, a camera without a source, a camera without extrinsics, fewer than 2 sources."""
    path = cfg.fuse.calibration
    cams = read_calibration(path)
    names = list(cams)
    if len(cfg.sources) < 2:
        raise InputError(f"--calibration {path}: fusing needs two or more sources, got {len(cfg.sources)}")
    if cfg.fuse.cameras:
        if len(cfg.fuse.cameras) != len(cfg.sources):
            raise InputError(f"fuse.cameras names {len(cfg.fuse.cameras)} cameras for "
                             f"{len(cfg.sources)} sources")
        chosen = list(cfg.fuse.cameras)
    else:
        chosen = [_camera_of(s, names) for s in cfg.sources]
        if all(c is None for c in chosen) and len(names) == len(cfg.sources):
            chosen = names
    for s, c in zip(cfg.sources, chosen, strict=True):
        if c is None:
            raise InputError(f"--calibration {path}: no camera for source {s.uri!r} (stream {s.name}); "
                             f"cameras are {', '.join(names)}: name the stream after its camera "
                             "(--source NAME=URI) or set fuse.cameras")
        if c not in cams:
            raise InputError(f"--calibration {path}: no camera {c!r} (cameras are {', '.join(names)})")
    if len(set(chosen)) != len(chosen):
        raise InputError(f"--calibration {path}: two sources on one camera ({', '.join(chosen)})")
    unused = [n for n in names if n not in chosen]
    if unused:
        raise InputError(f"--calibration {path}: camera {', '.join(unused)} has no source (give one per "
                         "camera, or a calibration of the cameras you use)")
    missing = [c for c in chosen if cams[c].R is None]
    if missing:
        raise InputError(f"--calibration {path}: camera {', '.join(missing)} has no extrinsics (R, t)")
    return [(c, cams[c]) for c in chosen]


def calibrated_intrinsics(cfg: RuntimeConfig) -> dict[str, tuple[float, float, float, float]]:
    """Each stream's intrinsics from `fuse.calibration` ({} without one): the lift stage places
    each camera's persons with its own calibrated camera."""
    if not cfg.fuse.calibration:
        return {}
    cams = fuse_cameras(cfg)
    return {s.name: (c.fx, c.fy, c.cx, c.cy) for s, (_, c) in zip(cfg.sources, cams, strict=True)}


def _camera_of(source: SourceSpec, names: list[str]) -> str | None:
    """`fuse_cameras`' match by name: the stream's, the file stem's, or the one name in the stem."""
    stem = "" if source.kind == "gst" else Path(source.uri).name.split(".")[0]  # a pipeline has no stem
    for key in (source.name, stem):
        if key in names:
            return key
    inside = [n for n in names if n and n in stem]
    return inside[0] if len(inside) == 1 else None


def keeps_detector_3d(cfg: RuntimeConfig) -> bool:
    """Whether detect passes the 2D detector's own 3D on: the lift stage fuses it, or it is published."""
    return cfg.publish.teacher_3d or cfg.lift.fusion == "detector-3d"
