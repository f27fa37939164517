"""`camerapose train` and `camerapose eval`."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from camerapose.cli import Command
from camerapose.core import config
from camerapose.core.errors import InputError

from .config import CONFIG_DIR, load_config

log = logging.getLogger(__name__)


def _configure_train(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, default=CONFIG_DIR / "default.toml",
                   help="TOML config (default: train/configs/default.toml, the preset that trains the "
                        "default weights; train/configs/paper.toml is the paper's recipe on Human3.6M + "
                        "MPII)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one config value, e.g. --set step3.epochs=5 (repeatable; TOML values)")
    p.add_argument("--resume", type=Path, default=None,
                   help="continue from a training checkpoint (<out_dir>/last.pt) where it stopped")
    p.add_argument("--export", type=Path, default=None,
                   help="also write the final model as a small fp16 weights file here "
                        "(e.g. train/weights/default.pt)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (logs only)")


def _run_train(args: argparse.Namespace) -> int:
    from camerapose.models.checkpoint import load_pose_model, save_checkpoint

    from .evaluate import format_table
    from .loop import train

    cfg = load_config(args.config, args.overrides)
    result = train(cfg, resume=str(args.resume) if args.resume else None, progress=not args.no_progress)
    if "checkpoint" not in result:  # a non-zero rank of a torchrun job
        return 0
    print(format_table(result["metrics"]))
    print(f"checkpoint: {result['checkpoint']}")
    if args.export:
        model, _ = load_pose_model(result["checkpoint"])
        extra = {"train_config": config.to_dict(cfg), "metrics": result["metrics"],
                 "mean_pose": result["mean_pose"]}
        save_checkpoint(args.export, model, extra, half=True)
        print(f"weights: {args.export}")
    return 0


def _configure_eval(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", type=Path,
                   help="a checkpoint (final.pt, last.pt or train/weights/default.pt)")
    p.add_argument("--config", type=Path, default=None,
                   help="TOML config whose [data] section names the test sets (default: the synthetic "
                        "held-out set of the config stored in the checkpoint)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one config value, e.g. --set data.test=[\"h36m\",\"3dhp\"]")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON instead of a table")
    p.add_argument("--fit-fusion", action="store_true",
                   help="with the real set (data.test=[\"real\"]): also compare the kinds of fusion fit "
                        "(one weight, image plane + depth, per joint and axis) cross-validated over its "
                        "cameras and in sample, and print the image plane + depth weights fitted on all "
                        "of them (core/fusion.py's DETECTOR_3D_WEIGHTS); about 30 s")


def _run_eval(args: argparse.Namespace) -> int:
    from camerapose.models.checkpoint import load_pose_model

    from .config import TrainConfig
    from .data import registry
    from .evaluate import evaluate_all, format_table, training_mean_pose

    model, info = load_pose_model(args.checkpoint)
    if args.config is not None:
        cfg = load_config(args.config, args.overrides)
    else:
        stored = (str(args.checkpoint), info["configs"].get("train") or {})
        cfg = config.build(TrainConfig, [stored, *config.layers(sets=args.overrides)])
    tests = registry.test_sets(cfg.data)
    if not tests:
        raise InputError("no test sets configured (data.test is empty)")
    mean, source = training_mean_pose(info["mean_pose"], cfg.data)
    if mean is None:
        log.warning("no mean-pose rows: %s", source)
    results = evaluate_all(model, tests, mean)
    print(json.dumps(results, indent=2) if args.json else format_table(results))
    if args.fit_fusion:
        from .data.real import RealSet
        from .evaluate import predict
        from .real_eval import compare_fusions, fit_all, format_fusions

        real = tests.get("real")
        if not isinstance(real, RealSet):
            raise InputError("--fit-fusion needs the real set: --set 'data.test=[\"real\"]'")
        lifter = predict(model, real.poses)["kp3d"].astype(float)
        print(format_fusions(compare_fusions(real, lifter)))
        w = fit_all(real, lifter)
        print(f"plane+depth fitted on every camera: image plane {w[1, 0]:.2f}, depth {w[1, 2]:.2f} "
              f"(core/fusion.py: DETECTOR_3D_WEIGHTS = _weights({w[1, 0]:.2f}, {w[1, 2]:.2f}))")
    return 0


COMMANDS = {"train": Command(_configure_train, _run_train), "eval": Command(_configure_eval, _run_eval)}
