"""The `camerapose` command: one entry point, subcommands loaded lazily.

Each subcommand lives in the `cli` module of the subpackage that owns it, which exposes
`COMMANDS = {name: Command(configure, run)}`. This file only knows the names, their one-line
help and which module to import, so `camerapose --help` is fast and never imports torch.

Errors a user can cause (`CameraPoseError`) print as one line and exit non-zero; Ctrl-C exits
130, from the first moment this module runs (even while the command's modules still import);
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import signal
import sys


def _interrupted_early(signum: int, frame: object) -> None:
    """SIGINT before `main` catches KeyboardInterrupt (imports, argument parsing): exit 130 quietly."""
    sys.stderr.write("camerapose: interrupted\n")
    raise SystemExit(130)


def _is_the_command() -> bool:
    """Whether this process is the `camerapose` command (`python -m camerapose` or the console
    script), not a program that imports this module: only then does the SIGINT handler change."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    script = (getattr(main, "__file__", None) or "").replace("\\", "/").rsplit("/", 1)[-1]
    return getattr(spec, "name", None) == "camerapose.__main__" or script in ("camerapose", "camerapose.exe")


# First thing, before the imports below: Python's own handler would print a KeyboardInterrupt
# traceback and die of the signal (exit -2) during them. A handler someone set (SIG_IGN in a
# stage) stays.
if _is_the_command() and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
    signal.signal(signal.SIGINT, _interrupted_early)

import argparse  # noqa: E402
import importlib  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import NoReturn  # noqa: E402

import camerapose  # noqa: E402
from camerapose.core.errors import CameraPoseError  # noqa: E402


@dataclass(frozen=True)
class Command:
    """A subcommand: `configure` adds its arguments, `run` does the work and returns an exit code."""

    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


# name -> (module that defines it, one-line help), in the order `--help` lists them.
REGISTRY: dict[str, tuple[str, str]] = {
    "run": ("camerapose.runtime.cli", "stream 3D poses + cameras from a camera or video over ZeroMQ"),
    "subscribe": ("camerapose.runtime.cli", "print a running pose stream, one JSON object per message"),
    "record": ("camerapose.runtime.cli", "record a pose stream to a file"),
    "replay": ("camerapose.runtime.cli", "re-publish a recorded pose stream with its original timing"),
    "view": ("camerapose.runtime.viewer.cli", "live 3D view of a pose stream in the browser (local page)"),
    "convert": ("camerapose.runtime.files.cli", "a pose recording as BVH, TRC, C3D, CSV: one file per track"),
    "detect": ("camerapose.runtime.detect.cli", "2D keypoints + track ids for every person in a video"),
    "calibrate": ("camerapose.runtime.calibrate_cli", "camera poses from the people in synchronised videos"),
    "train": ("camerapose.train.cli", "train the CameraPose models from a TOML config"),
    "eval": ("camerapose.train.cli", "evaluate a checkpoint: MPJPE / P-MPJPE / N-MPJPE / PCK / AUC"),
    "export": ("camerapose.engines.cli", "export a checkpoint to ONNX (with metadata), or a Triton repo"),
    "build": ("camerapose.engines.cli", "build a TensorRT engine from an ONNX file (cached)"),
    "serve": ("camerapose.engines.cli", "serve a Triton model repository: one lift model for many runtimes"),
    "bench": ("camerapose.benchmarks.cli", "latency, throughput and accuracy report for this machine"),
    "assets": ("camerapose.assets_cli", "fetch, list and locate the detector models and demo video"),
}


class Parser(argparse.ArgumentParser):
    """argparse with the project's error form: one line on stderr, exit 2 (argparse's own prints
    the usage first, a second line), pointing at --help for the usage."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (--help shows the usage)\n")


def _top_parser() -> argparse.ArgumentParser:
    lines = [f"  {name:<10} {help_}" for name, (_, help_) in REGISTRY.items()]
    parser = Parser(
        prog="camerapose",
        description="Live monocular 3D human pose with per-person camera estimation.",
        epilog="commands:\n" + "\n".join(lines) + "\n\n`camerapose COMMAND --help` explains one.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"camerapose {camerapose.__version__}")
    _add_common(parser)
    parser.add_argument("command", nargs="?", choices=list(REGISTRY), metavar="COMMAND")
    return parser


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv: debug)")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")


def _setup_logging(verbose: int, quiet: bool) -> None:
    level = logging.WARNING if quiet else (logging.DEBUG if verbose > 1 else logging.INFO)
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname).1s %(name)s: %(message)s", datefmt="%H:%M:%S"
    )


def _load(name: str) -> Command:
    module_name, _ = REGISTRY[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name and err.name.split(".")[0] == "torch":
            raise CameraPoseError(f"`camerapose {name}` needs torch: pip install torch==2.13.0 "
                                  "then pip install 'camerapose[train]'") from None
        if err.name == module_name:
            raise CameraPoseError(f"`camerapose {name}` is not part of this build yet") from None
        raise
    return module.COMMANDS[name]


def number(lo: float, hi: float, kind: type = float) -> Callable[[str], float]:
    """An argparse type: a number (`kind`: float or int) in [lo, hi], else the error the config
    loader gives for a value out of its range. The number flags that are not config keys use it,
    so an edge value (1e308, 1e-300, nan) is one line and exit 2, never an OverflowError."""

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            what = "a whole number" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not lo <= value <= hi:
            from camerapose.core.config import range_message

            raise argparse.ArgumentTypeError(range_message(lo, hi, text))
        return value

    parse.__name__ = kind.__name__
    return parse


def _interrupted(who: str) -> int:
    """Ctrl-C, caught: one line and exit 130."""
    print(f"{who}: interrupted", file=sys.stderr)
    # A KeyboardInterrupt that went through an exec() of a string on its way (every @dataclass
    # does one while its module imports) leaves CPython (3.11) marked as killed by SIGINT: after
    # main returns it would die of the signal (exit -2) all the same. An exec() clears the mark.
    exec("None")
    return 130


def main(argv: Sequence[str] | None = None) -> int:
    try:
        if signal.getsignal(signal.SIGINT) is _interrupted_early:  # from here on KeyboardInterrupt is caught
            signal.signal(signal.SIGINT, signal.default_int_handler)
        return _main(argv)
    except KeyboardInterrupt:  # while the command's modules import or its arguments parse
        return _interrupted("camerapose")


def _main(argv: Sequence[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    top = _top_parser()
    # The first argument that is not an option picks the subcommand; the rest is its own.
    pos = next((i for i, a in enumerate(argv) if not a.startswith("-")), None)
    if pos is None:
        top.parse_args(argv)  # handles --help and --version
        top.print_help()
        return 0
    top.parse_args([*argv[:pos], argv[pos]])  # validates the command name and global flags
    name = argv[pos]
    try:
        command = _load(name)
    except CameraPoseError as err:
        print(f"camerapose {name}: error: {err}", file=sys.stderr)
        return err.exit_code
    sub = Parser(prog=f"camerapose {name}", description=REGISTRY[name][1])
    _add_common(sub)
    command.configure(sub)
    args = sub.parse_args([*argv[:pos], *argv[pos + 1:]])
    _setup_logging(args.verbose, args.quiet)
    try:
        return int(command.run(args) or 0)
    except CameraPoseError as err:
        print(f"camerapose {name}: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        return _interrupted(f"camerapose {name}")
    except BrokenPipeError:
        # The reader went away (`camerapose detect ... | head`): stop quietly, as Unix tools do.
        # stdout is pointed at /dev/null so that Python's flush at exit does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
