"""`camerapose bench`: run benchmark suites and write their reports.

Each suite is a module of this package exposing `run(quick=False, out_dir=..., **options) ->
Report`; the options a suite does not take (e.g. `source` for the engines suite) are not passed
to it, and this command writes the report it returns. `--suite all` runs every suite that can run
here (one that cannot, e.g. accuracy without torch, is listed as skipped with the reason) and
writes `index.md` linking them.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import logging
import time
from pathlib import Path

from camerapose.benchmarks.report import RESULTS_DIR, machine_info, machine_lines
from camerapose.cli import Command
from camerapose.core.errors import CameraPoseError, InputError

log = logging.getLogger(__name__)

# suite -> (module, what it measures)
SUITES: dict[str, tuple[str, str]] = {
    "engines": ("camerapose.benchmarks.engines", "refine+lift latency and poses/s vs batch, per backend"),
    "detector": ("camerapose.benchmarks.detector", "2D detector latency, 1/2/4 persons, tracking vs detect"),
    "pipeline": ("camerapose.benchmarks.pipeline",
                 "glass-to-publish latency, fps, drops, per-stage times, CPU and RSS per process"),
    "transport": ("camerapose.benchmarks.transport",
                  "encode + ZeroMQ + decode per message, ipc/tcp, 1 and 8 subscribers"),
    "accuracy": ("camerapose.benchmarks.accuracy",
                 "MPJPE / P-MPJPE / N-MPJPE / PCK / AUC of the default model vs the mean pose (needs torch)"),
    "training": ("camerapose.benchmarks.training", "training throughput (samples/s) per step"),
    "tracking": ("camerapose.benchmarks.tracking",
                 "ID switches, IDF1, MOTA, frames covered, spurious ids: demo (offline and live) and "
                 "Pose2Sim's 4 views (needs motmetrics and `assets fetch --mocap`)"),
    "serving": ("camerapose.benchmarks.serving",
                "1, 4, 16 runtimes' lift requests on one Triton server (camerapose serve) vs local "
                "onnxruntime: requests/s, p50/p95, the batches formed (installs the server's side "
                "environment once)"),
    "multicamera": ("camerapose.benchmarks.multicamera",
                    "the fuse stage on Pose2Sim's 4 calibrated views: fuse ms per world frame, world ids, "
                    "reprojection, bone CV, fills, single-view 3D vs fused (needs `assets fetch --mocap`)"),
}
ALL = ("engines", "detector", "pipeline", "transport", "accuracy")


def configure(parser: argparse.ArgumentParser) -> None:
    lines = "; ".join(f"{k}: {v[1]}" for k, v in SUITES.items())
    parser.add_argument("--suite", default="all", choices=[*SUITES, "all"],
                        help=f"which suite to run (default all = {', '.join(ALL)}). {lines}")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR,
                        help="directory for the reports (default benchmarks/results in the source tree)")
    parser.add_argument("--quick", action="store_true",
                        help="few repeats and small sizes: checks that everything runs, numbers are rough")
    parser.add_argument("--source", type=Path, default=None,
                        help="video for the detector and pipeline suites (default: the demo video)")
    parser.add_argument("--backend", default="auto",
                        help="engine backend for the engines, pipeline and accuracy suites: auto, "
                             "onnxruntime, torch, tensorrt (default auto: every one that runs here for "
                             "engines, the runtime's own choice for the others)")
    parser.add_argument("--port", type=int, default=None, metavar="N",
                        help="pipeline, tracking, transport and serving suites: bind loopback TCP port N "
                             "(transport: N and N+1 for its two tcp variants; serving: the server's HTTP, "
                             "gRPC and metrics on N, N+1, N+2) instead of free ports the system picks")
    parser.add_argument("--config", type=Path, default=None,
                        help="accuracy suite: a training config whose [data] section names the test sets "
                             "(default: the synthetic held-out set the default weights were trained with)")


def run_suite(name: str, quick: bool, out_dir: Path, **options: object):
    """Import and run one suite; options it does not accept are dropped."""
    module_name, _ = SUITES[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name == module_name:
            raise CameraPoseError(f"suite {name!r} is not part of this build yet") from None
        raise CameraPoseError(f"suite {name!r} needs {err.name}: install it to run this suite") from None
    accepted = inspect.signature(module.run).parameters
    kwargs = {k: v for k, v in options.items() if k in accepted and v is not None}
    return module.run(quick=quick, out_dir=out_dir, **kwargs)


def run(args: argparse.Namespace) -> int:
    if args.source is not None and not args.source.is_file():
        raise InputError(f"{args.source}: no such video file")
    if args.config is not None and not args.config.is_file():
        raise InputError(f"{args.config}: no such config file")
    if args.port is not None and not 1024 <= args.port <= 65534:
        raise InputError(f"--port {args.port}: expected 1024..65534")
    names = list(ALL) if args.suite == "all" else [args.suite]
    written: list[tuple[str, str, float]] = []
    failed: list[tuple[str, str]] = []
    for name in names:
        start = time.perf_counter()
        log.info("suite %s: running%s", name, " (quick)" if args.quick else "")
        try:
            report = run_suite(name, args.quick, args.out, source=args.source, backend=args.backend,
                               config=args.config, port=args.port)
        except CameraPoseError as err:
            if args.suite != "all":
                raise
            log.warning("suite %s skipped: %s", name, err)
            failed.append((name, str(err)))
            continue
        path = report.write(args.out)
        written.append((name, path.name, time.perf_counter() - start))
        print(path)
    if args.suite == "all":
        _write_index(args.out, written, failed)
    return 0 if written else 1


def _write_index(out: Path, written: list[tuple[str, str, float]], failed: list[tuple[str, str]]) -> None:
    lines = ["# CameraPose benchmarks", "", *machine_lines(machine_info()), "",
             "| suite | report | took (s) |", "|---|---|---|"]
    lines += [f"| {n} | [{f}]({f}) | {s:.0f} |" for n, f, s in written]
    lines += [f"| {n} | skipped: {why} | |" for n, why in failed]
    out.mkdir(parents=True, exist_ok=True)
    (out / "index.md").write_text("\n".join(lines) + "\n")


COMMANDS = {"bench": Command(configure, run)}
