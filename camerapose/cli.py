"""The `camerapose` command: one entry point, subcommands loaded lazily.

Each subcommand lives in the `cli` module of the subpackage that owns it, which exposes
`COMMANDS = {name: Command(configure, run)}`. This file only knows the names, their one-line
help and which module to import, so `camerapose --help` is fast and never imports torch.

Errors a user can cause (`CameraPoseError`) print as one line and exit non-zero; Ctrl-C exits
130; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import camerapose
from camerapose.core.errors import CameraPoseError


@dataclass(frozen=True)
class Command:
    """A subcommand: `configure` adds its arguments, `run` does the work and returns an exit code."""

    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


# name -> (module that defines it, one-line help). Later issues add run, train, eval, export,
# build, bench, subscribe, record, replay, detect here as they land.
REGISTRY: dict[str, tuple[str, str]] = {
    "assets": ("camerapose.assets_cli", "fetch, list and locate the detector models and demo video"),
}


def _top_parser() -> argparse.ArgumentParser:
    lines = [f"  {name:<10} {help_}" for name, (_, help_) in REGISTRY.items()]
    parser = argparse.ArgumentParser(
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
    return importlib.import_module(module_name).COMMANDS[name]


def main(argv: Sequence[str] | None = None) -> int:
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
    command = _load(name)
    sub = argparse.ArgumentParser(prog=f"camerapose {name}", description=REGISTRY[name][1])
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
        print(f"camerapose {name}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
