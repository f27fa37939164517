"""`camerapose convert`: a recording or JSON lines of pose messages -> one file per track.

    paths = convert(Path("run.cprec"), "bvh", out_dir=Path("out"), world=True)

Axes (docs/files.md): csv, jsonl and npz keep the camera frame (x right, y down, z forward); BVH, TRC
and C3D are read by tools that expect y up, so they get the camera turned upright (x right, y up,
z toward the camera). `world` replaces both by the floor's axes: y up, floor at 0, metres.

The world stream (`run --calibration`: one id per person seen by the calibrated cameras, kp3d in the
calibration's world frame): `world` converts it instead of the camera streams, one file per world id
(`select_tracks`); csv, jsonl and npz keep the calibration's frame as published, BVH, TRC and C3D
get it turned y up (`world_stream_axes`: its up axis made Y, the origin kept).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import numpy as np

from camerapose.core.errors import InputError
from camerapose.runtime.files import ground
from camerapose.runtime.files.kinematics import median_bone_lengths
from camerapose.runtime.files.markers import DEFAULT_MARKERS, marker_set
from camerapose.runtime.files.messages import read_messages
from camerapose.runtime.files.save import open_writer
from camerapose.runtime.files.tracks import Track, check_gaps, fill_gaps, frame_time, group_tracks

log = logging.getLogger(__name__)

MOTION_FORMATS = ("bvh", "trc", "c3d")  # a frame for every frame of the track's range, y up
MESSAGE_FORMATS = ("csv", "jsonl", "npz")  # a row per frame seen, the camera frame unless --world
FORMATS = MOTION_FORMATS + MESSAGE_FORMATS
DEFAULT_FPS = 30.0
GAPS = {"bvh": "interpolated", "trc": "NaN", "c3d": "interpolated, residual -1"}
MARKER_FORMATS = ("trc", "c3d")  # --markers picks their marker set (runtime/files/markers.py)

Axes = tuple[np.ndarray, np.ndarray]  # (rot (3, 3), origin (3,)): X -> rot @ (X - origin)


def convert(
    src: Path,
    fmt: str,
    out_dir: Path | None = None,
    world: bool = False,
    stream: str | None = None,
    fps: float | None = None,
    markers: str = DEFAULT_MARKERS,
) -> list[Path]:
    """Write one `fmt` file per track of `src` into `out_dir` (default: beside `src`); the paths written."""
    if fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r} (choose {', '.join(FORMATS)})")
    marker_set(markers)
    if markers != DEFAULT_MARKERS and fmt not in MARKER_FORMATS:
        raise InputError(f"--markers {markers} is for {' and '.join(MARKER_FORMATS)} files, not {fmt}")
    if fps is not None and not (np.isfinite(fps) and fps > 0):
        raise InputError(f"--fps must be a positive number, got {fps}")
    if fmt == "c3d":
        from camerapose.runtime.files.c3d import require_ezc3d

        require_ezc3d()
    tracks = select_tracks(load_tracks(src, stream), world, stream, str(src))
    if fmt in MOTION_FORMATS:  # every frame of each range: refuse huge gaps before writing anything
        for track in tracks:
            check_gaps(track)
    out_dir = src.parent if out_dir is None else out_dir
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InputError(f"{out_dir}: cannot create the output folder ({err.strerror})") from None
    streams = sorted({t.stream for t in tracks})
    axes = {s: stream_axes(s, [t for t in tracks if t.stream == s], fmt, world) for s in streams}
    written = []
    for track in tracks:
        path = out_dir / output_name(src, track, fmt)
        note = write_track(track, fmt, path, axes[track.stream], axes_name(track, world), fps, markers)
        log.info("wrote %s: %s", path, note)
        written.append(path)
    return written


def load_tracks(src: Path, stream: str | None = None) -> list[Track]:
    """The tracks of a file, or one InputError line when there is nothing to convert."""
    if not src.is_file():
        raise InputError(f"{src}: {'not a file' if src.exists() else 'no such file'}")
    streams: set[str] = set()
    count = 0

    def seen(messages: Any) -> Any:
        nonlocal count
        for msg in messages:
            count += 1
            if msg.get("axes", "camera") != "camera":
                raise InputError(f"{src}: message {count} is already in {msg['axes']!r} axes; "
                                 "convert the original recording instead")
            streams.add(msg["stream"])
            yield msg

    tracks = group_tracks(seen(read_messages(src)), stream)
    if count == 0:
        raise InputError(f"{src}: no pose message in the file")
    if stream is not None and stream not in streams:
        raise InputError(f"{src}: no stream {stream!r} (streams in the file: {', '.join(sorted(streams))})")
    if not tracks:
        raise InputError(f"{src}: {count} message(s) but nobody in them: nothing to convert")
    return tracks


def select_tracks(tracks: list[Track], world: bool, stream: str | None, where: str) -> list[Track]:
    """Which tracks are converted: of one stream, all (`stream`); with `world`, the world stream's
    when the file has one (the camera streams' are then left out, with a log line), else every
    camera stream's in the floor's axes; without it, the camera streams' (the world stream's are
    left out with a warning naming --world). One InputError line when that leaves nothing."""
    if stream is not None:
        return tracks
    worlds = [t for t in tracks if t.is_world]
    cams = [t for t in tracks if not t.is_world]
    if world and worlds:
        if cams:
            log.info("--world: the world stream's %d id(s), in the calibration's frame; the %d track(s) "
                     "of camera streams are left out (--stream NAME converts one)", len(worlds), len(cams))
        return worlds
    if worlds:
        log.warning("left out the world stream's %d id(s): --world converts them, one file per world id",
                    len(worlds))
    if not cams:
        raise InputError(f"{where}: only the world stream has persons: convert it with --world")
    return cams


def axes_name(track: Track, world: bool) -> str:
    """What a message file's kp3d axes are called: a world id's are the calibration's as published
    ("camera": left as they are), a camera track's "world" with --world."""
    return "world" if world and not track.is_world else "camera"


def output_name(src: Path, track: Track, fmt: str) -> str:
    """`<input stem>_<stream>_id<id>.<fmt>`, the stream name made safe for a file name."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", track.stream) or "_"
    return f"{src.stem}_{safe}_id{track.id}.{fmt}"


def stream_axes(stream: str, tracks: list[Track], fmt: str, world: bool) -> Axes:
    """The axes one stream's files are written in (its tracks share one camera)."""
    if tracks and tracks[0].is_world:
        return world_stream_axes(tracks, fmt)
    if world:
        rot, origin, normal = ground.world_axes(np.concatenate([t.kp3d for t in tracks]))
        feet = sum(len(t.kp3d) for t in tracks)
        down = float(np.degrees(np.arcsin(np.clip(-normal[2], -1, 1))))
        log.info("stream %s: floor fitted to the feet of %d poses; the camera is %.2f m above it, "
                 "looking %.0f deg %s", stream, feet, ground.camera_height(origin), abs(down),
                 "down" if down >= 0 else "up")
        return rot, origin
    return (ground.Y_UP if fmt in MOTION_FORMATS else np.eye(3)), np.zeros(3)


def world_stream_axes(tracks: list[Track], fmt: str) -> Axes:
    """The world stream's axes: csv, jsonl and npz as published (the calibration's world frame);
    BVH, TRC and C3D y up, by `ground.yup_rotation` of the frame's up axis (the cameras' mean up,
    `ground.world_up`), origin and metres kept. Its up axis and the turn are logged."""
    if fmt in MESSAGE_FORMATS:
        return np.eye(3), np.zeros(3)
    cameras = next((m["cameras"] for t in tracks for m in t.messages if m.get("cameras")), [])
    axis, sign = ground.world_up(cameras, np.concatenate([t.kp3d for t in tracks]))
    rot = ground.yup_rotation(axis, sign)
    log.info("world stream: the calibration's up is %s%s (%s); written y up as %s",
             "+" if sign > 0 else "-", ground.AXIS_NAMES[axis],
             f"from its {len(cameras)} cameras" if cameras else "from the people", ground.axes_text(rot))
    return rot, np.zeros(3)


def track_frame_time(track: Track, fps: float | None) -> tuple[float, str]:
    """Seconds per frame, and where it came from (for the log): 1 / fps if given (--fps), else the
    source's rate the messages state, else (recordings made before messages carried one) estimated
    from the track's timestamps, else 1 / DEFAULT_FPS."""
    if fps is not None:
        return 1.0 / fps, "--fps"
    if track.fps is not None:
        return 1.0 / track.fps, "the source's rate"
    dt = frame_time(track.frames, track.t)
    if dt is not None:
        return dt, "estimated from the capture times: the messages carry no fps (recorded before they did)"
    return 1.0 / DEFAULT_FPS, "the default: the messages carry no fps"


def write_track(
    track: Track, fmt: str, path: Path, axes: Axes, axes_name: str, fps: float | None,
    markers: str = DEFAULT_MARKERS,
) -> str:
    """Write one track (TRC and C3D: the joints of marker set `markers`); a note for the log line."""
    rot, origin = axes
    if fmt in MESSAGE_FORMATS:
        with open_writer(path, fmt, axes_name, world=track.is_world) as w:
            for msg in track.messages:
                w.write(_moved(msg, rot, origin) if axes_name != "camera" else msg)
        return f"{len(track.messages)} rows"
    positions = ground.apply_axes(track.kp3d, rot, origin)
    frames, filled, seen = fill_gaps(track.frames, positions)
    dt, why = track_frame_time(track, fps)
    if fmt == "bvh":
        from camerapose.runtime.files.bvh import write_bvh

        write_bvh(path, filled, median_bone_lengths(positions), dt)
    elif fmt == "trc":
        from camerapose.runtime.files.trc import write_trc

        write_trc(path, frames, filled, seen, dt, markers)
    else:
        from camerapose.runtime.files.c3d import write_c3d

        write_c3d(path, int(frames[0]), filled, seen, dt, markers)
    note = f"{len(frames)} frames at {1 / dt:.6g} fps ({why})"
    gaps = int((~seen).sum())
    return note + (f", {gaps} missing ({GAPS[fmt]})" if gaps else "")


def _moved(msg: dict[str, Any], rot: np.ndarray, origin: np.ndarray) -> dict[str, Any]:
    """A one-person message with its kp3d and camera.t in other axes."""
    p = msg["persons"][0]
    kp3d = ground.apply_axes(p["kp3d"].astype(np.float64), rot, origin).astype(np.float32)
    person = {**p, "kp3d": kp3d, "camera": {**p["camera"], "t": kp3d[0]}}
    return {**msg, "persons": [person]}
