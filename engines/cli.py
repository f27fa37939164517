"""`camerapose export` and `camerapose build`."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from camerapose.cli import Command

log = logging.getLogger(__name__)


def configure_export(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", type=Path,
                        help="training checkpoint (.pt), e.g. train/weights/default.pt")
    parser.add_argument("--out", type=Path, default=Path("engines/models"),
                        help="output folder for pose_<checkpoint stem>.onnx (default: engines/models)")
    parser.add_argument("--opset", type=int, default=18, help="ONNX opset, >= 17 (default: 18)")


def run_export(args: argparse.Namespace) -> int:
    from camerapose.core.errors import InputError

    from .export import ExportConfig, export_checkpoint

    if args.opset < 17:
        raise InputError(f"--opset must be >= 17, got {args.opset}")
    path = export_checkpoint(args.checkpoint, args.out, ExportConfig(opset=args.opset))
    print(path)
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


COMMANDS = {
    "export": Command(configure_export, run_export),
    "build": Command(configure_build, run_build),
}
