"""`camerapose run | subscribe | record | replay`: thin front ends over the runtime library."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import signal
import sys
from collections.abc import Iterator
from typing import Any

from camerapose.cli import Command, number

log = logging.getLogger(__name__)


def _default_endpoint() -> str:
    """Where `run` publishes by default (PublishConfig's default, written once there)."""
    from camerapose.runtime.wire.publisher import PublishConfig

    return PublishConfig().endpoint


# -- run -----------------------------------------------------------------------------------------
# Flags that set one config key each (argparse dest -> key); `--set KEY=VALUE` reaches every key.
# The flags that set one config key each: dest -> (key, help group, argparse keywords). "{default}"
# in a help text is the key's default (runtime/runtime.toml); `--set KEY=VALUE` reaches every key.
RUN_FLAGS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "loop": ("capture.loop", "input", {"action": "store_true", "help": "restart files at their end"}),
    "retries": ("capture.retries", "input", {
        "type": int, "help": "URL sources: reconnect attempts (default {default}, backoff doubling)"}),
    "model": ("lift.model", "models", {"help": "pose ONNX (default {default})"}),
    "backend": ("lift.backend", "models", {
        "choices": ("auto", "tensorrt", "torch", "onnxruntime", "triton"),
        "help": "lift backend (default {default}; auto: tensorrt > torch-cuda > onnxruntime; triton: the "
                "model served at lift.triton_url, docs/scale-out.md)"}),
    "max_persons": ("detector.max_persons", "models", {
        "type": int, "help": "most persons per frame (default {default})"}),
    "detect_every": ("detector.detect_every", "models", {
        "type": int, "help": "run the person detector every N frames (default {default})"}),
    "publish": ("publish.endpoint", "output", {
        "metavar": "ENDPOINT", "help": "ZeroMQ PUB bind (default {default}; ipc://PATH ok)"}),
    "hwm": ("publish.hwm", "output", {
        "type": int, "help": "messages queued per subscriber before it loses some (default {default})"}),
    "allow_remote": ("publish.allow_remote", "output", {
        "action": "store_true",
        "help": "allow binding a non-loopback address (exposes the stream to the network)"}),
    "curve_secret_key": ("publish.curve_secret_key", "output", {
        "metavar": "FILE", "help": "Z85 CURVE secret key file (with --allow-remote)"}),
    "wait_subscriber": ("publish.wait_subscriber_s", "output", {
        "type": float, "metavar": "S",
        "help": "hold the sources until a subscriber connects, up to S seconds, 0 to 86400 (default "
                "{default:g}: don't)"}),
    "teacher_3d": ("publish.teacher_3d", "output", {
        "action": "store_true",
        "help": "also publish, per person, kp3d_teacher: the BlazePose detector's own 3D pose (world "
                "landmarks; metres, pelvis at 0, camera orientation; kp3d fuses it already). Default off"}),
    "calibration": ("fuse.calibration", "input", {
        "metavar": "FILE",
        "help": "several calibrated cameras, one per --source: also publish the `world` stream, each person "
                "triangulated in the calibration's frame (Pose2Sim .toml, Qualisys .qca.txt, OpenCV "
                ".yml/.json; docs/multicamera.md)"}),
    "annotate": ("output.annotate", "output", {
        "metavar": "OUT.mp4", "help": "write the video with 2D skeletons, ids and a 3D view"}),
    "save": ("output.save", "output", {
        "metavar": "PATH", "help": "also write every published message to PATH: .jsonl (as `subscribe "
                                   "--json` prints them), .npz or .csv (docs/files.md)"}),
    "rerun": ("output.rerun", "output", {
        "metavar": "FILE.rrd",
        "help": "also write a rerun recording: each frame, the 2D and 3D skeletons and the camera, on "
                "the video's time (open it with `rerun FILE.rrd`; needs the rerun extra)"}),
    "show": ("output.show", "output", {
        "action": "store_true", "help": "show the annotated view in a window"}),
    "stats_every": ("supervisor.stats_every_s", "output", {
        "type": float, "metavar": "S",
        "help": "log fps, drops, persons, p50/p95 per stage every S seconds, 0.1 to 86400 (default "
                "{default:g}; 0 = off)"}),
    "max_restarts": ("supervisor.max_restarts", "output", {
        "type": int, "help": "restarts per stage before giving up (default {default})"}),
}


def configure_run(p: argparse.ArgumentParser) -> None:
    from camerapose.core.config import default_of

    from .config import RuntimeConfig

    p.description = (
        "Stream, for every person in every frame, a 3D skeleton (metres, camera frame) and that person's "
        "camera (fx, fy, cx, cy, t) over ZeroMQ (msgpack schema v1, docs/schema.md). Every option has a "
        "default in runtime/runtime.toml; --config FILE changes them, the flags below and "
        "--set KEY=VALUE override both."
    )
    p.epilog = (
        "Every other option (detector thresholds, tracker, One-Euro, ring size, heartbeats, restarts...) "
        "is in runtime/runtime.toml with its default and meaning; set it with --set section.key=value "
        "(e.g. --set lift.smooth=false); --print-config shows the result."
    )
    groups = {name: p.add_argument_group(name) for name in ("input", "models", "output")}
    g = groups["input"]
    g.add_argument(
        "sources",
        nargs="*",
        metavar="SOURCE",
        help="[NAME=]URI, as --source: `run clip.mp4` is `run --source clip.mp4`; give several for several "
        "streams; with --source too, all are sources (these first)",
    )
    g.add_argument(
        "--source",
        action="append",
        metavar="[NAME=]URI",
        help="webcam index (0), video file, image folder, rtsp/http URL or gst:PIPELINE (a GStreamer "
        "pipeline without its sink, e.g. a Jetson CSI camera: docs/jetson.md); repeat for several "
        "streams (topic pose.NAME; default names 0, 1, ...). Default: [sources] uri, i.e. "
        + ", ".join(s.uri for s in default_of(RuntimeConfig, "sources")),
    )
    g.add_argument("--config", metavar="TOML", help="a TOML file with any options of runtime/runtime.toml")
    g.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set any option of runtime/runtime.toml, e.g. --set lift.smooth=false or "
        "--set detector.track_memory_s=4 (repeatable; TOML values, a bare word is a string; "
        "overrides --config and the flags)",
    )
    g.add_argument(
        "--every-frame",
        action="store_true",
        default=None,
        help="offline mode: process every frame in order, as fast as possible, none dropped "
        "(default: live mode, newest frame wins, files paced at their fps)",
    )
    groups["models"].add_argument(
        "--intrinsics",
        metavar="FX,FY,CX,CY|FILE[:CAMERA]",
        help="the real camera's intrinsics in pixels: used instead of the predicted camera "
        "(the 3D root is re-solved for them) and reported as camera.source = 'given'. Four numbers, "
        "or a calibration file (.qca.txt, .toml, .json, .yml/.yaml; docs/python.md) and the camera's "
        "name if it holds several. They are pixels of the calibrated image size: a video or folder "
        "of another size is refused",
    )
    groups["models"].add_argument("--no-smooth", action="store_true", default=None,
                                  help="no One-Euro smoothing of the 3D")
    for dest, (key, group, kw) in RUN_FLAGS.items():
        kw = {**kw, "help": kw["help"].format(default=default_of(RuntimeConfig, key))}
        if kw.get("action") == "store_true":
            kw["default"] = None  # absent: the config decides
        groups[group].add_argument("--" + dest.replace("_", "-"), dest=dest, **kw)
    g = groups["output"]
    g.add_argument(
        "--view",
        nargs="?",
        const="127.0.0.1:8765",
        metavar="HOST:PORT",
        help="also serve the live 3D viewer (`camerapose view`, needs the view extra) on HOST:PORT "
        "(default 127.0.0.1:8765) and print its URL",
    )
    g.add_argument("--print-config", action="store_true", help="print the resulting config as JSON and exit")


def _overrides(a: argparse.Namespace) -> list[tuple[str, dict[str, Any]]]:
    """The flags given, each as a config layer ("--flag value", {section: {key: value}})."""
    from camerapose.core.config import nest

    out = []
    if a.sources or a.source:
        out.append(("SOURCE / --source", nest("sources.uri", [*a.sources, *(a.source or [])])))
    if a.every_frame:
        out.append(("--every-frame", nest("capture.mode", "offline")))
    if a.intrinsics:
        out.append((f"--intrinsics {a.intrinsics}", nest("lift.intrinsics", _intrinsics_value(a.intrinsics))))
    if a.no_smooth:
        out.append(("--no-smooth", nest("lift.smooth", False)))
    for dest, (key, _, _) in RUN_FLAGS.items():
        value = getattr(a, dest)
        if value is not None:
            flag = "--" + dest.replace("_", "-")
            out.append((flag if value is True else f"{flag} {value}", nest(key, value)))
    return out


def _intrinsics_value(text: str) -> list[float] | str:
    """--intrinsics: "FX,FY,CX,CY" as numbers (their count and range LiftConfig checks); anything
    else is a calibration file "FILE[:CAMERA]", which load_config reads."""
    try:
        return [float(x) for x in text.split(",")]
    except ValueError:
        return text


def _intrinsics_size(a: argparse.Namespace, cfg: Any) -> tuple[int, int] | None:
    """The image size `--intrinsics FILE` was calibrated at, if the run uses that file's intrinsics
    (a --set may have replaced them) and the file has a size."""
    from .config import read_intrinsics

    if not a.intrinsics or not isinstance(_intrinsics_value(a.intrinsics), str):
        return None
    k, size = read_intrinsics(a.intrinsics)
    return size if tuple(k) == tuple(cfg.lift.intrinsics) else None


def run_run(a: argparse.Namespace) -> int:
    from camerapose.core.config import to_dict

    from .config import check_inputs, load_config
    from .supervisor import Supervisor

    cfg = load_config(a.config, a.sets, _overrides(a))
    if a.print_config:
        print(json.dumps(to_dict(cfg), indent=2))
        return 0
    check_inputs(cfg, intrinsics_size=_intrinsics_size(a, cfg))
    if a.view is None:
        return Supervisor(cfg).run()
    from .viewer.cli import start_viewer, stop_viewer

    viewer = start_viewer(cfg.publish.endpoint, a.view, cfg.publish.allow_remote, _public_key(cfg))
    try:
        return Supervisor(cfg).run()
    finally:
        stop_viewer(viewer)


def _public_key(cfg: Any) -> str:
    """The CURVE public key that goes with publish.curve_secret_key ("" without CURVE)."""
    if not cfg.publish.curve_secret_key:
        return ""
    import zmq

    from camerapose.runtime.wire.publisher import read_curve_key

    return zmq.curve_public(read_curve_key(cfg.publish.curve_secret_key)).decode()


# -- subscribe / record / replay -------------------------------------------------------------------
def _count(text: str) -> int:
    """argparse type: an int >= 0."""
    try:
        n = int(text)
    except ValueError:
        n = -1
    if n < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return n


def _add_sub_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--endpoint", default=_default_endpoint(),
                   help="where the runtime publishes (default %(default)s)")
    p.add_argument("--stream", action="append",
                   help="only this stream, by its exact name (repeatable; default all)")
    p.add_argument("--count", type=_count, default=0, help="stop after N messages (0 = never)")
    from camerapose.runtime.wire.client import TIMEOUT_RANGE

    p.add_argument("--timeout", type=number(*TIMEOUT_RANGE), default=None, metavar="S",
                   help="stop after S seconds without a message, {:g} to {:g} (a week); default: never"
                   .format(*TIMEOUT_RANGE))
    p.add_argument("--server-key", help="the publisher's Z85 CURVE public key (if it uses CURVE)")


def configure_subscribe(p: argparse.ArgumentParser) -> None:
    _add_sub_args(p)
    p.add_argument(
        "--json",
        action="store_true",
        help="one full JSON object per message (arrays as nested lists; pipe into jq); "
        "default: one short summary line per message",
    )


def run_subscribe(a: argparse.Namespace) -> int:
    from camerapose.runtime.wire.client import subscribe, summary_line
    from camerapose.runtime.wire.schema import to_json

    n = 0
    out = _WholeLines(sys.stdout)
    try:
        for msg in subscribe(a.endpoint, a.stream, timeout=a.timeout, server_key=a.server_key):
            line = json.dumps(to_json(msg), separators=(",", ":")) if a.json else summary_line(msg)
            out.write(line)
            n += 1
            if a.count and n >= a.count:
                break
    except BrokenPipeError:  # `| head`
        sys.stderr.close()
    return 0  # Ctrl-C: camerapose.cli reports it and exits 130


class _WholeLines:
    """subscribe's output, one whole line at a time, straight to stdout's descriptor (no buffer that
    could hold half a line). A line that cannot be written (a full disk, `> /dev/full`) is one
    InputError line naming where stdout goes and the errno (ENOSPC); a regular file is cut back to
    its last whole line first, and stdout is pointed at /dev/null so that nothing fails at exit."""

    def __init__(self, out: Any) -> None:
        import os
        import stat

        self.out, self.fd, self.end = out, None, None
        with contextlib.suppress(OSError, ValueError):  # no descriptor: pytest's capture, a StringIO
            self.fd = out.fileno()
            out.flush()
            if stat.S_ISREG(os.fstat(self.fd).st_mode):
                self.end = os.lseek(self.fd, 0, os.SEEK_CUR)  # where the last whole line ends

    def write(self, line: str) -> None:
        import os

        if self.fd is None:
            print(line, file=self.out, flush=True)
            return
        data = memoryview((line + "\n").encode(self.out.encoding or "utf-8", "backslashreplace"))
        try:
            while data:
                wrote = os.write(self.fd, data)
                if not wrote:
                    raise OSError(0, "the write wrote nothing")
                data = data[wrote:]
            if self.end is not None:
                self.end = os.lseek(self.fd, 0, os.SEEK_CUR)
        except BrokenPipeError:
            raise
        except OSError as err:
            raise self._failed(err) from None

    def _failed(self, err: OSError) -> Exception:
        import os

        from camerapose.core.errors import write_failed

        name = "stdout"
        if self.fd is not None:
            with contextlib.suppress(OSError):
                name = f"stdout ({os.readlink(f'/proc/self/fd/{self.fd}')})"
            if self.end is not None:
                with contextlib.suppress(OSError):
                    os.ftruncate(self.fd, self.end)
            with contextlib.suppress(OSError):
                null = os.open(os.devnull, os.O_WRONLY)
                os.dup2(null, self.fd)
                os.close(null)
        return write_failed(name, err)


def configure_record(p: argparse.ArgumentParser) -> None:
    p.description = (
        "Write a running pose stream to a .cprec file (docs/schema.md), or to an MCAP file for Foxglove "
        "and the mcap tools when the name ends in .mcap (docs/files.md), each message as it arrives. "
        "Ctrl-C, SIGTERM, --count or --timeout end it; all of them keep every message received and "
        "print the count (exit 130 after Ctrl-C, else 0)."
    )
    p.add_argument("file", help="output file: .cprec, or .mcap (needs the files extra)")
    p.add_argument("--format", choices=("cprec", "mcap"), default=None,
                   help="the file's format (default: by its name: mcap for .mcap, else cprec)")
    _add_sub_args(p)


@contextlib.contextmanager
def _stop_signals() -> Iterator[list[int]]:
    """SIGINT and SIGTERM raise KeyboardInterrupt inside the block (so `record` can close its file);
    yields the list of the signals received."""
    caught: list[int] = []

    def stop(signum: int, frame: Any) -> None:
        caught.append(signum)
        raise KeyboardInterrupt

    old = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield caught
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


def run_record(a: argparse.Namespace) -> int:
    from camerapose.runtime.wire.record import record

    with _stop_signals() as caught:
        n = record(a.file, a.endpoint, a.stream, a.count, a.timeout, a.server_key, a.format)
    print(f"{n} messages -> {a.file}", flush=True)
    return 130 if signal.SIGINT in caught else 0


def configure_replay(p: argparse.ArgumentParser) -> None:
    from camerapose.runtime.wire.record import MAX_GAP_S, SPEED_RANGE

    p.description = (
        "Re-publish a recording with its original timing (a pause longer than "
        f"{MAX_GAP_S:g} s is shortened to {MAX_GAP_S:g} s). A file with a corrupt record is refused "
        "before anything is sent."
    )
    p.add_argument("file", help="a recording made by `camerapose record`")
    p.add_argument("--publish", default=_default_endpoint(), metavar="ENDPOINT",
                   help="where to re-publish (default %(default)s)")
    p.add_argument("--allow-remote", action="store_true", help="allow a non-loopback address")
    p.add_argument("--speed", type=number(*SPEED_RANGE), default=1.0,
                   help="playback speed, {:g} to {:g} (2 = twice as fast; default 1)".format(*SPEED_RANGE))
    p.add_argument("--loop", action="store_true", help="start again at the end")
    p.add_argument(
        "--wait-subscriber",
        type=float,
        default=0.0,
        metavar="S",
        help="wait up to S seconds for a subscriber before starting, 0 to 86400 (default 0)",
    )


def run_replay(a: argparse.Namespace) -> int:
    from camerapose.runtime.wire.publisher import PublishConfig
    from camerapose.runtime.wire.record import replay

    cfg = PublishConfig(endpoint=a.publish, allow_remote=a.allow_remote, wait_subscriber_s=a.wait_subscriber)
    n = replay(a.file, cfg, a.speed, a.loop)  # Ctrl-C: camerapose.cli reports it and exits 130
    print(f"{n} messages replayed from {a.file}")
    return 0


COMMANDS = {
    "run": Command(configure_run, run_run),
    "subscribe": Command(configure_subscribe, run_subscribe),
    "record": Command(configure_record, run_record),
    "replay": Command(configure_replay, run_replay),
}
