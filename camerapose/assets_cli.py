"""`camerapose assets fetch [--mocap] | list | path NAME`: the asset cache from the command line."""

from __future__ import annotations

import argparse

from camerapose import assets
from camerapose.cli import Command


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["fetch", "list", "path"],
                        help="fetch: download + verify into the cache (idempotent); "
                             "list: show each asset's state; path: print one asset's path")
    parser.add_argument("name", nargs="?", help="asset name (for `path`; optional for `fetch`)")
    parser.add_argument("--mocap", action="store_true",
                        help="fetch: also the motion-capture clips (lifter validation/training data) and "
                             "the real multi-camera footage, from which it builds the `real` test set "
                             "(the 2D detector on every view, triangulated; about 15 s)")
    parser.add_argument("--onnx", action="store_true",
                        help="fetch: also convert BlazePose's two .tflite models to ONNX, for the 2D "
                             "detector on onnxruntime or TensorRT (a GPU or a Jetson: "
                             "detector.backend_runtime). Makes a "
                             "conversion environment in the cache once (tensorflow-cpu + tf2onnx, ~1.6 GB, "
                             "about 2 min), checks each ONNX against LiteRT on frames of the demo video and "
                             "records the check in the manifest")
    parser.add_argument("--cache-dir", help="cache directory (default $CAMERAPOSE_CACHE or "
                                            "~/.cache/camerapose)")


def run(args: argparse.Namespace) -> int:
    if args.action == "fetch":
        names = [args.name] if args.name else None
        bundles = ("base", "mocap") if args.mocap else ("base",)
        for path in assets.fetch(names, cache=args.cache_dir, bundles=bundles):
            print(path)
        if args.mocap and not args.name:
            from camerapose.real_set import ensure

            print(ensure(assets.cache_dir(args.cache_dir)))
        if args.onnx and not args.name:
            from camerapose.engines.blazepose_onnx import convert

            for path in convert(args.cache_dir):
                print(path)
        return 0
    if args.action == "path":
        if not args.name:
            raise SystemExit("camerapose assets path: error: give an asset name: "
                             + ", ".join(assets.ASSETS))
        print(assets.asset_path(args.name, args.cache_dir))
        return 0
    rows = assets.status(args.cache_dir)
    width = max(len(r["name"]) for r in rows) + 2
    for row in rows:
        # The licence last: the pybullet one is a sentence.
        print(f"{row['name']:<{width}} {row['bundle']:<6} {row['state']:<13} {row['path']}  {row['license']}")
    # Optional bundles (--mocap) may be absent; a corrupt file anywhere is a failure.
    bad = [r for r in rows if r["state"] == "bad checksum" or (r["bundle"] == "base" and r["state"] != "ok")]
    return 1 if bad else 0


COMMANDS = {"assets": Command(configure, run)}
