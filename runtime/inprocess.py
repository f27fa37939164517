"""`estimate`: the pose messages of one source, computed in this process (no stage processes, no
sockets, no shared memory):

    import camerapose
    for msg in camerapose.estimate("clip.mp4", every_frame=True, lift={"smooth": False}):
        for p in msg["persons"]:
            print(msg["frame"], p["id"], p["kp3d"][0])

Each message is the one `camerapose run` publishes for that frame, decoded as `subscribe` yields
it: the same detector, lifter and per-frame functions as the stages (stages/detect.py
`detections`, stages/lift.py `lift_items` and `pose_messages`, stages/publish.py `publish_one`),
and every message crosses the same msgpack encoding as between the stages, so an offline run
(`every_frame=True`) gives the payloads `run --every-frame` publishes, the wall-clock fields
(t_capture, t_wall, t_publish, timings) aside. Live mode (the default) reads the source on a
thread and takes the newest frame each time, as `run` does.
"""

from __future__ import annotations

import logging
import numbers
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from camerapose.core.config import Layer, nest
from camerapose.core.errors import CameraPoseError, InputError
from camerapose.runtime.config import RuntimeConfig, check_inputs, keeps_detector_3d, load_config
from camerapose.runtime.protocol import Detections, FrameNotice, Poses, pack, unpack
from camerapose.runtime.results import Result, Results
from camerapose.runtime.ticks import clock, detections, lift_items, pose_messages, publish_one
from camerapose.runtime.wire import schema

log = logging.getLogger(__name__)
LIVE_WAIT_S = 0.05  # live mode: how long one wait for a new frame lasts


def estimate(source: str | int | Path, every_frame: bool = False,
             **settings: Any) -> Iterator[Result]:
    """Yield one decoded pose message (schema v1, numpy float32 arrays) per frame of `source`, as a
    Result (runtime/results.py: the message dict, with attributes and `plot`).

    source: a webcam index, video file, image folder or URL, optionally "NAME=URI" (the stream
    name; default "0"). every_frame: offline mode, every frame in order (else live mode, newest
    frame wins). settings: any option of runtime/runtime.toml, as a table (`lift={"smooth":
    False}`) or a dotted key (`**{"lift.smooth": False}`). Bad settings, a missing file or model
    raise InputError here, at the call; leaving the loop early closes the source and the models."""
    cfg = estimate_config(source, every_frame, settings)
    check_inputs(cfg, open_files=False)  # the source opens at the first message
    from camerapose.runtime.draw.video import check_folder

    for path in (cfg.output.annotate, cfg.output.rerun):  # written from the first message on
        check_folder(path)
    return _fused(cfg) if cfg.fuse.calibration else _messages(cfg)


def track(source: str | int | Path, every_frame: bool = True, **settings: Any) -> Results:
    """Run `estimate` to the end of `source` -> its Results (runtime/results.py): a list of the
    per-frame Results, with `.tracks()` and `.save(path)`. every_frame defaults to True here (every
    frame of a file, in order); the settings are estimate's."""
    return Results(estimate(source, every_frame, **settings))


def estimate_config(source: str | int | Path | list | tuple, every_frame: bool, settings: dict[str, Any]
                    ) -> RuntimeConfig:
    """estimate's arguments -> the RuntimeConfig they make, through the one config loader."""
    sources = list(source) if isinstance(source, list | tuple) else [source]
    if not sources:
        raise InputError("estimate: no source")
    for i, one in enumerate(sources):
        if isinstance(one, bool | np.bool_) or not isinstance(one, str | Path | numbers.Integral):
            raise InputError(f"estimate: source must be a path, URL or webcam index, got {one!r}")
        if isinstance(one, numbers.Integral):  # numpy integers too; SourceSpec checks the upper bound
            sources[i] = int(one)
            if sources[i] < 0:
                raise InputError(f"estimate: a webcam index is 0 or more, got {one}")
    if not isinstance(every_frame, bool | np.bool_):  # "no" is truthy: it would turn offline mode on
        raise InputError(f"estimate: every_frame must be True or False, got {every_frame!r}")
    layers: list[Layer] = []
    for key, value in settings.items():
        if key.split(".")[0] == "sources":
            raise InputError(f"estimate({key}=...): give the source as the first argument")
        layers.append((f"estimate({key}=...)", nest(key, value)))
    layers.append(("estimate(source)", {"sources": {"uri": [str(one) for one in sources]}}))
    if every_frame:
        layers.append(("estimate(every_frame=True)", nest("capture.mode", "offline")))
    cfg = load_config(flags=layers)  # unknown keys and bad values first, by the one loader
    if len(sources) > 1 and (cfg.output.annotate or cfg.output.rerun):
        raise InputError("estimate: output.annotate and output.rerun draw one source; with several "
                         "cameras use `camerapose run --annotate` or the world stream in `camerapose view`")
    if len(sources) > 1 and not (cfg.fuse.calibration and every_frame):
        raise InputError("estimate: several sources are several calibrated cameras: give every_frame=True "
                         "and fuse={'calibration': FILE} (live, several cameras run with `camerapose run`)")
    for key, value in settings.items():
        for dotted in _dotted(key, value):
            if not dotted.startswith(USED) and dotted not in USED:
                used = ", ".join(k + "*" if k.endswith(".") else k for k in USED)
                raise InputError(f"estimate({key}=...): {dotted!r} has no effect here (it is `run`'s); "
                                 f"estimate uses: {used}")
    return cfg


# The options estimate uses (sections or keys; docs/python.md); any other is an InputError at the call.
USED = ("capture.", "detector.", "lift.", "fuse.", "publish.teacher_3d", "output.annotate", "output.save",
        "output.view3d", "output.rerun")


def _dotted(key: str, value: Any) -> list[str]:
    """A setting as the dotted keys it sets: "lift", {"smooth": False} -> ["lift.smooth"]."""
    if isinstance(value, dict) and value:
        return [d for k, v in value.items() for d in _dotted(f"{key}.{k}", v)]
    return [key]


def _messages(cfg: RuntimeConfig) -> Iterator[dict[str, Any]]:
    """The generator behind `estimate`: opens everything at the first message, closes it all when
    the loop ends, breaks or raises (generator close)."""
    from camerapose.runtime.detect.registry import create_detector
    from camerapose.runtime.files.save import open_writer
    from camerapose.runtime.lift_engine import LiftEngine
    from camerapose.runtime.sources import open_source
    from camerapose.runtime.sources.live import LiveReader

    spec = cfg.sources[0]
    offline = cfg.capture.mode == "offline"
    opened: list[Any] = []  # closed in reverse order
    try:
        source = open_source(spec, cfg.capture)
        opened.append(source)
        live = None if offline else LiveReader(source)
        if live is not None:
            opened.append(live)
        detector = create_detector(cfg.detector)
        opened.append(detector)
        lifter = LiftEngine(cfg.lift)
        opened.append(lifter)
        saver = open_writer(cfg.output.save) if cfg.output.save else None
        if saver is not None:
            opened.append(saver)
        annotator = _annotator(cfg, source.fps) if cfg.output.annotate or cfg.output.rerun else None
        if annotator is not None:
            opened.append(annotator)
        prev, skipped = -1, {}  # the previous frame read; frames the detector refused (detections)
        while (frame := _next_frame(source, live)) is not None:
            notice = _notice(spec.name, frame, prev, source.fps)
            prev = frame.index
            msg = _one_frame(notice, frame.image, detector, lifter, offline, cfg,
                             live.dropped if live is not None else 0, skipped)
            if msg is None:
                continue
            if saver is not None:
                saver.write(msg)
            if annotator is not None:
                annotator.add(msg, frame.image)
            yield Result(msg)
    finally:
        for thing in reversed(opened):
            thing.close()


def _fused(cfg: RuntimeConfig) -> Iterator[dict[str, Any]]:
    """`estimate` of several calibrated cameras, offline: frame by frame, each camera's message in
    source order, then the moment's world message (runtime/world.py), as `run --calibration
    --every-frame` publishes them."""
    from camerapose.core.fuse import Fuser
    from camerapose.runtime.config import calibrated_intrinsics, fuse_cameras
    from camerapose.runtime.detect.registry import create_detector
    from camerapose.runtime.files.save import open_writer
    from camerapose.runtime.lift_engine import LiftEngine
    from camerapose.runtime.protocol import EndOfInput
    from camerapose.runtime.sources import open_source
    from camerapose.runtime.world import OfflineGather, camera_maps, world_poses

    streams = [s.name for s in cfg.sources]
    cams = fuse_cameras(cfg)
    fuser, maps = Fuser([c for _, c in cams], cfg.fuse), camera_maps(streams, cams)
    gather = OfflineGather(streams)
    opened: list[Any] = []
    try:
        sources = [open_source(s, cfg.capture) for s in cfg.sources]
        opened += sources
        detector = create_detector(cfg.detector)
        opened.append(detector)
        lifter = LiftEngine(cfg.lift, calibrated_intrinsics(cfg))
        opened.append(lifter)
        saver = open_writer(cfg.output.save) if cfg.output.save else None
        if saver is not None:
            opened.append(saver)
        prev = {s: -1 for s in streams}
        skipped: dict[str, int] = {}
        for name, source, frame in _round_robin(streams, sources):
            out: list[Poses] = []
            if frame is None:
                groups = gather.add(EndOfInput(name, prev[name]))
            else:
                notice = _notice(name, frame, prev[name], source.fps)
                prev[name] = frame.index
                lifted = _lifted(notice, frame.image, detector, lifter, cfg, skipped)
                if lifted is None:
                    continue
                out.append(lifted)
                groups = gather.add(lifted)
            for m in out + [world_poses(fuser, streams, g, maps) for g in groups]:
                msg = schema.decode(publish_one(m, time.monotonic()).out[0].payload)
                if saver is not None:
                    saver.write(msg)
                yield Result(msg)
    finally:
        for thing in reversed(opened):
            thing.close()


def _notice(stream: str, frame: Any, prev: int, fps: float) -> FrameNotice:
    """What the capture stage would send for a frame read from a source (`prev`: the stream's
    frame before it)."""
    return FrameNotice(stream, frame.index, 0, frame.t_capture, frame.t_wall,
                       size=(frame.image.shape[1], frame.image.shape[0]), read_ms=frame.read_ms,
                       t_sent=time.monotonic(), t_media=frame.t_media, prev=prev, fps=fps)


def _round_robin(streams: list[str], sources: list[Any]) -> Iterator[tuple[str, Any, Any]]:
    """Each source's next frame in turn, (stream, source, frame); a source's end once, as its frame
    None, after which it is left out."""
    live = dict.fromkeys(streams, True)
    while any(live.values()):
        for name, source in zip(streams, sources, strict=True):
            if live[name]:
                frame = source.read()
                live[name] = frame is not None
                yield name, source, frame


def _annotator(cfg: RuntimeConfig, fps: float) -> Any:
    """output.annotate's and output.rerun's writer: the annotate stage's (runtime/draw/video.py), at
    the source's frame rate (30 where it has none)."""
    from camerapose.runtime.draw.video import Annotator

    annotator = Annotator(cfg.output.annotate, False, cfg.output.view3d, cfg.output.rerun)
    if isinstance(fps, int | float) and 0 < fps < 1000:
        annotator.fps = float(fps)
    return annotator


def _next_frame(source: Any, live: Any) -> Any:
    """The next frame to process (None at the end): offline every frame, live the newest one."""
    from camerapose.runtime.sources.live import Wait

    if live is None:
        return source.read()
    while (got := live.get(LIVE_WAIT_S)) is Wait.TIMEOUT:
        pass
    return None if got is Wait.ENDED else got


def _one_frame(notice: FrameNotice, image: Any, detector: Any, lifter: Any, offline: bool, cfg: RuntimeConfig,
               dropped: int, skipped: dict[str, int]) -> dict[str, Any] | None:
    """One frame through detect, lift and publish's per-frame functions -> its decoded message, or
    None where the detector refused the frame (as the detect stage skips it)."""
    lifted = _lifted(notice, image, detector, lifter, cfg, skipped, offline, dropped)
    return None if lifted is None else schema.decode(publish_one(lifted, time.monotonic()).out[0].payload)


def _lifted(notice: FrameNotice, image: Any, detector: Any, lifter: Any, cfg: RuntimeConfig,
            skipped: dict[str, int], offline: bool = True, dropped: int = 0) -> Poses | None:
    """One frame through detect and lift's per-frame functions -> its Poses as publish receives
    them, or None where the detector refused the frame."""
    t0 = time.monotonic()
    try:
        people = detector.detect([image], [clock(notice, offline)], [notice.stream], live=not offline)[0]
    except CameraPoseError as err:
        log.warning("estimate: frame %d skipped (%s)", notice.frame, err)
        people = None
    tick = detections([notice], [people], t0, time.monotonic(), dropped, keeps_detector_3d(cfg), skipped)
    if not tick.out:
        return None
    found: Detections = _as_sent(tick.out[0])
    t0 = time.monotonic()
    poses = lifter.lift(lift_items([found], offline))
    return _as_sent(pose_messages([found], poses, t0, time.monotonic(), lifter.last_infer_ms,
                                  cfg.publish.teacher_3d).out[0])


def _as_sent(msg: Any) -> Any:
    """`msg` as the next stage would receive it: stamped with its send time, through msgpack (the
    arrays become float32 exactly as they do between the stage processes)."""
    from dataclasses import replace

    return type(msg).from_msg(unpack(pack(replace(msg, t_sent=time.monotonic()).to_msg())))
