"""`camerapose export`, `camerapose build` and `camerapose serve`."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from camerapose.cli import Command, number

from .triton_repo import RepoConfig as RepoDefaults

log = logging.getLogger(__name__)
DEFAULT_OUT = Path("engines/models")
OTHER_MAX_BATCH = 64  # a model that is not the pose model: BlazePose's image networks (786 kB a row)


def configure_export(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", type=Path,
                        help="training checkpoint (.pt), e.g. train/weights/default.pt; with --triton-repo "
                             "also an ONNX (no torch needed then): the pose ONNX, or another batched model "
                             "such as BlazePose's ~/.cache/camerapose/pose_detection.onnx and "
                             "pose_landmark_full.onnx (detector.backend_runtime = \"triton\")")
    parser.add_argument("--out", type=Path, default=None,
                        help="output folder for pose_<checkpoint stem>.onnx (default: engines/models; with "
                             "--triton-repo: none, the ONNX goes into the repository only)")
    parser.add_argument("--opset", type=int, default=18, help="ONNX opset, >= 17 (default: 18)")
    triton = parser.add_argument_group("Triton model repository (docs/scale-out.md)")
    triton.add_argument("--triton-repo", type=Path, default=None, metavar="DIR",
                        help="also write a Triton Inference Server model repository here: python/ (what "
                             "`camerapose serve DIR` runs), onnxruntime/ and tensorrt/ (the official server "
                             "image); a DIR that holds other models keeps them (one export per model)")
    defaults = RepoDefaults()
    triton.add_argument("--triton-model", default=defaults.name, metavar="NAME",
                        help=f"the model's name on the server (default {defaults.name}; lift.triton_model; "
                             "BlazePose's: blazepose_detector, blazepose_landmark, the "
                             "detector.triton_*_model defaults)")
    triton.add_argument("--triton-max-batch", type=number(1, 1 << 20, int), default=None, metavar="N",
                        help=f"max_batch_size: rows per execution (default {defaults.max_batch} for the pose "
                             f"model, {OTHER_MAX_BATCH} for another, e.g. BlazePose's crops)")
    triton.add_argument("--triton-queue-delay-us", type=number(0, 10_000_000, int),
                        default=defaults.queue_delay_us, metavar="US",
                        help="how long a request may wait to be batched with others (default "
                             f"{defaults.queue_delay_us} us)")


def run_export(args: argparse.Namespace) -> int:
    import tempfile

    from camerapose.core.errors import InputError

    from .export import ExportConfig, export_checkpoint
    from .triton_repo import RepoConfig, read_onnx, write_repo

    if args.opset < 17:
        raise InputError(f"--opset must be >= 17, got {args.opset}")
    if args.triton_repo is None:
        print(export_checkpoint(args.checkpoint, args.out or DEFAULT_OUT, ExportConfig(opset=args.opset)))
        return 0
    with tempfile.TemporaryDirectory(prefix="cp-export-") as tmp:
        if args.checkpoint.suffix == ".onnx":
            onnx = args.checkpoint
            if not onnx.is_file():
                raise InputError(f"{onnx}: no such model file")
        else:
            onnx = export_checkpoint(args.checkpoint, args.out or tmp, ExportConfig(opset=args.opset))
            if args.out:
                print(onnx)
        max_batch = args.triton_max_batch
        if max_batch is None:
            max_batch = RepoDefaults().max_batch if read_onnx(onnx)[3] else OTHER_MAX_BATCH
        repo_cfg = RepoConfig(name=args.triton_model, max_batch=max_batch,
                              queue_delay_us=args.triton_queue_delay_us,
                              preferred=tuple(p for p in RepoDefaults().preferred if p <= max_batch))
        print(write_repo(onnx, args.triton_repo, repo_cfg))
    return 0


def configure_build(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("onnx", type=Path, help="pose ONNX from `camerapose export`")
    prec = parser.add_mutually_exclusive_group()
    prec.add_argument("--fp16", action="store_true", help="FP16 engine (the default)")
    prec.add_argument("--fp32", action="store_true", help="FP32 engine")
    prec.add_argument("--int8", action="store_true", help="INT8 engine; needs --calib")
    parser.add_argument("--calib", type=Path, default=None,
                        help="INT8 calibration folder of .npz files with kp2d (N,17,2) and conf (N,17)")
    parser.add_argument("--min-batch", type=int, default=1, help="profile minimum batch (default: 1)")
    parser.add_argument("--opt-batch", type=int, default=64,
                        help="profile batch TensorRT tunes for (default: 64)")
    parser.add_argument("--max-batch", type=int, default=4096, help="profile maximum batch (default: 4096)")
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="engine cache folder (default: ~/.cache/camerapose/engines, or under "
                             "$CAMERAPOSE_CACHE)")
    parser.add_argument("--workspace-mb", type=int, default=1024,
                        help="builder workspace in MiB (default: 1024)")


def run_build(args: argparse.Namespace) -> int:
    from .build import BuildConfig, calibration_batches, get_engine, import_pycuda, import_tensorrt
    from .cache import BatchProfile, EngineCache
    from .select import inspect_onnx

    precision = "int8" if args.int8 else ("fp32" if args.fp32 else "fp16")
    profile = BatchProfile(args.min_batch, min(max(args.opt_batch, args.min_batch), args.max_batch),
                           args.max_batch)
    cfg = BuildConfig(precision=precision, profile=profile,
                      calib_dir=str(args.calib) if args.calib else None, workspace_mb=args.workspace_mb,
                      cache_dir=str(args.cache_dir) if args.cache_dir else None)
    meta = inspect_onnx(args.onnx)
    if cfg.precision == "int8":  # bad calibration data fails here, before any GPU work
        n = len(calibration_batches(cfg.calib_dir or "", cfg.calib_batch))
        log.info("INT8 calibration: %d batches of %d from %s", n, cfg.calib_batch, cfg.calib_dir)
    from .runner import OnnxRuntimeRunner

    with OnnxRuntimeRunner(args.onnx) as r:
        for kind, specs in (("input ", r.inputs), ("output", r.outputs)):
            for spec in specs.values():
                log.info("%s %s", kind, spec.describe())
    log.info("model: joint format %s, normalisation %s, checkpoint %s...", meta["joint_format"],
             meta["normalization"], meta["checkpoint_sha256"][:12])
    import_tensorrt()
    import_pycuda()
    data, key, cached = get_engine(args.onnx, cfg)
    path = EngineCache(cfg.cache_dir).paths(key)[0]
    log.info("%s engine (%s, %.1f MB)", "cached" if cached else "built", precision, len(data) / 1e6)
    print(path)
    return 0


def configure_serve(parser: argparse.ArgumentParser) -> None:
    from .serve import ServeConfig

    d = ServeConfig()
    parser.description = (
        "Serve a model repository from `camerapose export CHECKPOINT --triton-repo DIR` with NVIDIA Triton "
        "Inference Server (the build bundled with nvidia-pytriton, its Python-backend variant: onnxruntime "
        "on the CPU), in the foreground until Ctrl-C or SIGTERM. The first use installs nvidia-pytriton, "
        "onnxruntime and numpy<2 into a side environment in the asset cache (about 450 MB, from PyPI). "
        "Runtimes use it with --set lift.backend=triton --set lift.triton_url=HOST:GRPC_PORT. "
        "Triton has no authentication: keep it on loopback, or see docs/scale-out.md before --host.")
    parser.add_argument("repo", type=Path, metavar="DIR", help="the model repository (DIR, or DIR/python)")
    parser.add_argument("--host", default=d.host, metavar="ADDR",
                        help=f"address the HTTP, gRPC and metrics endpoints bind (default {d.host}: this "
                             "machine only; 0.0.0.0 = every interface)")
    parser.add_argument("--http-port", type=number(1, 65535, int), default=d.http_port, metavar="N",
                        help=f"HTTP/REST port (default {d.http_port})")
    parser.add_argument("--grpc-port", type=number(1, 65535, int), default=d.grpc_port, metavar="N",
                        help=f"gRPC port, the one lift.triton_url names (default {d.grpc_port})")
    parser.add_argument("--metrics-port", type=number(1, 65535, int), default=d.metrics_port, metavar="N",
                        help=f"Prometheus metrics port (default {d.metrics_port})")
    parser.add_argument("--ready-timeout", type=number(1, 3600), default=d.ready_timeout_s, metavar="S",
                        help="give up when the server is not ready after S seconds (default "
                             f"{d.ready_timeout_s:g})")


def run_serve(args: argparse.Namespace) -> int:
    """Start the server, print where it serves, wait for SIGTERM / Ctrl-C or its exit, stop it."""
    import signal
    import threading

    from camerapose.core.errors import CameraPoseError

    from .serve import ServeConfig, TritonServer

    cfg = ServeConfig(host=args.host, http_port=args.http_port, grpc_port=args.grpc_port,
                      metrics_port=args.metrics_port, ready_timeout_s=args.ready_timeout)
    server = TritonServer(args.repo, cfg)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    models = sorted(p.parent.name for p in server.repo.glob("*/config.pbtxt"))
    log.info("starting tritonserver on %s (models: %s)", server.repo, ", ".join(models))
    server.start()
    try:
        print(f"serving {', '.join(models)}: gRPC {cfg.host}:{cfg.grpc_port} (lift.triton_url), HTTP "
              f"{cfg.host}:{cfg.http_port}, metrics http://{cfg.host}:{cfg.metrics_port}/metrics; "
              f"Ctrl-C or SIGTERM stops it (log: {server.log_path})", flush=True)
        while not stop.wait(0.2):
            if server.poll() is not None:
                raise CameraPoseError(f"tritonserver on gRPC {server.grpc_url} stopped by itself "
                                      f"({server.exit_reason()})")
    finally:
        server.stop()
    log.info("tritonserver stopped")
    return 0


COMMANDS = {
    "export": Command(configure_export, run_export),
    "build": Command(configure_build, run_build),
    "serve": Command(configure_serve, run_serve),
}
