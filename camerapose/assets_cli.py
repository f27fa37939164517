"""`camerapose assets fetch | list | path NAME`: the asset cache from the command line."""

from __future__ import annotations

import argparse

from camerapose import assets
from camerapose.cli import Command


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["fetch", "list", "path"],
                        help="fetch: download + verify into the cache (idempotent); "
                             "list: show each asset's state; path: print one asset's path")
    parser.add_argument("name", nargs="?", help="asset name (for `path`; optional for `fetch`)")
    parser.add_argument("--cache-dir", help="cache directory (default $CAMERAPOSE_CACHE or "
                                            "~/.cache/camerapose)")


def run(args: argparse.Namespace) -> int:
    if args.action == "fetch":
        names = [args.name] if args.name else None
        for path in assets.fetch(names, cache=args.cache_dir):
            print(path)
        return 0
    if args.action == "path":
        if not args.name:
            raise SystemExit("camerapose assets path: error: give an asset name: "
                             + ", ".join(assets.ASSETS))
        print(assets.asset_path(args.name, args.cache_dir))
        return 0
    rows = assets.status(args.cache_dir)
    for row in rows:
        print(f"{row['name']:<28} {row['state']:<13} {row['license']:<24} {row['path']}")
    return 0 if all(r["state"] == "ok" for r in rows) else 1


COMMANDS = {"assets": Command(configure, run)}
