"""The three-step schedule of the CameraPose paper.

1. RefineNet alone on (detected 2D, confidence) -> ground-truth 2D with L_ref (both 2D-3D and 2D-only
   sets have 2D labels).
2. Warm-up: per iteration, the augmentor's discriminators then its generator (LS-GAN), then the
   lifter + camera branch on real + augmented 2D-3D pairs (Eq. 16 without L_ref; RefineNet frozen).
3. End to end: the same G/D updates, then the whole PoseModel on real + augmented pairs (Eq. 16),
   then the whole PoseModel on a 2D-only batch (Eq. 17), which is what trains the camera branch
   and lifter from 2D-only data.

`train(cfg)` runs what remains of the schedule (after `--resume`), writes `last.pt` after every
epoch and `final.pt` at the end, evaluates on the test sets and returns the metrics.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from camerapose.core.camera import reproject
from camerapose.core.errors import InputError

from . import distributed as ddp
from .checkpoint import read_checkpoint, save_checkpoint
from .config import TrainConfig, to_dict
from .data import registry
from .data.base import PoseSet
from .evaluate import evaluate_all, mean_pose
from .losses import (
    augmentor_regularizer,
    combined_loss,
    hardness_feedback_loss,
    lsgan_d_loss,
    lsgan_g_loss,
    refine_loss,
)
from .models import Generator, KCSDiscriminator2D, KCSDiscriminator3D, PoseModel

log = logging.getLogger(__name__)
Batch = dict[str, torch.Tensor]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


def to_tensors(poses: PoseSet, device: torch.device) -> Batch:
    return {k: torch.from_numpy(np.ascontiguousarray(v)).to(device) for k, v in poses.arrays().items()}


@dataclass
class Nets:
    """The trained modules, and their DDP wrappers (the same objects when single-process)."""

    model: PoseModel
    gen: Generator
    d3: KCSDiscriminator3D
    d2: KCSDiscriminator2D
    wrapped: dict[str, torch.nn.Module] = field(default_factory=dict)

    def w(self, name: str) -> torch.nn.Module:
        if name in self.wrapped:
            return self.wrapped[name]
        return self.model.refine if name == "refine" else getattr(self, name)


@dataclass
class Context:
    cfg: TrainConfig
    info: ddp.DistInfo
    nets: Nets
    train3d: Batch
    train2d: Batch | None
    out_dir: Path
    progress: bool = True
    writer: Any = None
    global_iter: int = 0
    last_reprojection: torch.Tensor | None = None  # of the latest 2D-only batch, for the 2D critic
    history: list[dict[str, float]] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# one iteration of each kind


def _aug_batch(batch: Batch, aug: dict[str, torch.Tensor]) -> Batch:
    """An augmented 2D-3D batch: the generator's 3D through the sample's own camera."""
    kp3d, t = aug["kp3d"].detach(), aug["t"].detach()
    uv = reproject(kp3d, batch["focal"], batch["center"], t)
    return {"kp2d": uv, "conf": torch.ones_like(batch["conf"]), "kp2d_gt": uv, "kp3d": kp3d,
            "focal": batch["focal"], "center": batch["center"], "t": t,
            "has_3d": batch["has_3d"], "has_camera": batch["has_camera"]}


def _cat(a: Batch, b: Batch) -> Batch:
    return {k: torch.cat([a[k], b[k]]) for k in a if k in b}


@contextmanager
def _evaluating(module: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """`module` in eval mode (BN reads its running stats and leaves them alone, no dropout), then
    every submodule back in the mode it had (step 2 keeps RefineNet in eval inside a training model)."""
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield module
    finally:
        for m, mode in modes:
            m.training = mode


def lifter_errors(model: PoseModel, kp2d: torch.Tensor, kp3d: torch.Tensor) -> torch.Tensor:
    """Per-sample MPJPE (metres) of the pose model on clean 2D (conf 1). (B,17,2), (B,17,3) -> (B,).

    The model runs in eval mode with detached parameters, so gradients reach the inputs (the
    generator's pose and its projection) and never the model, and its BN statistics stay as they
    are. `model` is the bare module, not its DDP wrapper: a DDP forward whose backward leaves the
    parameters without gradients would break the wrapper's next reduction.
    """
    params = {k: v.detach() for k, v in model.named_parameters()}
    conf = kp2d.new_ones(kp2d.shape[:-1])
    with _evaluating(model):
        pred = torch.func.functional_call(model, params, (kp2d, conf))[1]
    return (pred - kp3d).norm(dim=-1).mean(-1)


def hardness_beta(cfg: TrainConfig, step: int, epoch: int) -> float | None:
    """The feedback's target factor in this epoch, or None where the term is off.

    PoseAug turns its feedback on after a warm-up on a pre-trained pose model and raises beta
    linearly over training; here that is step 3 (in step 2 the lifter is still learning from
    scratch, so its error says nothing about hardness), ramped over step 3's epochs. Without
    `augment` the augmented poses never reach the lifter, so there is nothing to steer.
    """
    lam = cfg.loss
    if not (lam.hardness and lam.augment) or step != 3 or lam.lambda_hard == 0:
        return None
    frac = epoch / max(cfg.step3.epochs - 1, 1)
    return lam.hardness_beta_start + (lam.hardness_beta - lam.hardness_beta_start) * min(frac, 1.0)


def gan_update(ctx: Context, batch: Batch, batch2d: Batch | None, opt_g: torch.optim.Optimizer,
               opt_d: torch.optim.Optimizer, beta: float | None = None,
               ) -> tuple[dict[str, float], dict[str, torch.Tensor]]:
    """One discriminator update, then one generator update (LS-GAN, Eq. 12-15), plus PoseAug's
    hardness feedback with target factor `beta` (`hardness_beta`) when `loss.hardness` is on."""
    nets, lam = ctx.nets, ctx.cfg.loss
    aug = nets.w("gen")(batch["kp3d"], batch["t"])
    aug2d = reproject(aug["kp3d"], batch["focal"], batch["center"], aug["t"])
    real2d = batch["kp2d_gt"] if batch2d is None else torch.cat([batch["kp2d_gt"], batch2d["kp2d_gt"]])
    fake2d = aug2d.detach()
    if ctx.last_reprojection is not None:
        fake2d = torch.cat([fake2d, ctx.last_reprojection])
    n3, n2 = len(batch["kp3d"]), len(real2d)
    s3 = nets.w("d3")(torch.cat([batch["kp3d"], aug["kp3d"].detach()]))
    s2 = nets.w("d2")(torch.cat([real2d, fake2d]))
    loss_d = lsgan_d_loss(s3[:n3], s3[n3:]) + lsgan_d_loss(s2[:n2], s2[n2:])
    opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    opt_d.step()
    reg = augmentor_regularizer(aug)
    loss_g = lam.lambda_gan * (lsgan_g_loss(nets.w("d3")(aug["kp3d"])) + lsgan_g_loss(nets.w("d2")(aug2d))) \
        + lam.lambda_reg * reg
    hard: dict[str, float] = {}
    if lam.hardness and beta is not None:
        loss_hard, ratio = _hardness_term(nets.model, batch, aug, aug2d, beta)
        loss_g = loss_g + lam.lambda_hard * loss_hard
        hard = {"hard": float(loss_hard.detach()), "hard_ratio": ratio}
    opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    opt_g.step()
    return {"d": float(loss_d.detach()), "g": float(loss_g.detach()), "reg": float(reg.detach())} | hard, aug


def _hardness_term(model: PoseModel, batch: Batch, aug: dict[str, torch.Tensor], aug2d: torch.Tensor,
                   beta: float) -> tuple[torch.Tensor, float]:
    """The feedback loss on this batch and the achieved hardness mean(e_aug) / mean(e_orig)."""
    err_aug = lifter_errors(model, aug2d, aug["kp3d"])
    with torch.no_grad():  # the original pose does not depend on the generator
        orig2d = reproject(batch["kp3d"], batch["focal"], batch["center"], batch["t"])
        err_orig = lifter_errors(model, orig2d, batch["kp3d"])
    ratio = float(err_aug.detach().mean() / err_orig.mean().clamp_min(1e-8))
    return hardness_feedback_loss(err_aug, err_orig, beta), ratio


def pose_update(ctx: Context, batch: Batch, opt: torch.optim.Optimizer, refine: bool) -> dict[str, float]:
    """One PoseModel update with Eq. 16 (samples with 3D) / Eq. 17 (2D-only samples)."""
    out = ctx.nets.w("model")(batch["kp2d"], batch["conf"])
    loss, terms = combined_loss(out, batch, ctx.cfg.loss, refine=refine)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    if not bool(batch["has_3d"].any()):  # a 2D-only batch: keep its reprojection for the 2D critic
        ctx.last_reprojection = reproject(*(o.detach() for o in out[1:])).detach()
    return {f"pose_{k}": v for k, v in terms.items()} | {"pose_total": float(loss.detach())}


# --------------------------------------------------------------------------------------------
# the schedule


def _batches(ctx: Context, data: Batch, bs: int, step: int, epoch: int) -> list[torch.Tensor]:
    """This rank's index batches for one epoch (same permutation on every rank, then sharded)."""
    n = len(data["kp2d"])
    g = torch.Generator().manual_seed(ctx.cfg.run.seed * 1_000_003 + step * 10_007 + epoch)
    idx = ddp.shard(torch.randperm(n, generator=g), ctx.info)
    bs = min(bs, max(len(idx), 2))
    batches = [idx[i : i + bs] for i in range(0, len(idx) - bs + 1, bs)]
    cap = ctx.cfg.__getattribute__(f"step{step}").max_iters_per_epoch
    return batches[:cap] if cap > 0 else batches


def _take(data: Batch, idx: torch.Tensor) -> Batch:
    idx = idx.to(data["kp2d"].device)
    return {k: v[idx] for k, v in data.items()}


def make_optimizers(ctx: Context, step: int) -> dict[str, Any]:
    nets, scfg = ctx.nets, getattr(ctx.cfg, f"step{step}")
    m = nets.model
    if step == 1:
        groups = {"pose": list(m.refine.parameters())}
    elif step == 2:
        groups = {"pose": list(m.lifter.parameters()) + list(m.camera.parameters())}
    else:
        groups = {"pose": list(m.parameters())}
    if step >= 2:
        groups["gen"] = list(nets.gen.parameters())
        groups["disc"] = list(nets.d3.parameters()) + list(nets.d2.parameters())
    opts = {k: torch.optim.Adam(v, lr=scfg.lr) for k, v in groups.items()}
    scheds = {k: torch.optim.lr_scheduler.MultiStepLR(o, list(scfg.milestones), scfg.gamma)
              for k, o in opts.items()}
    return {"opt": opts, "sched": scheds}


def run_epoch(ctx: Context, step: int, epoch: int, opt: dict[str, Any]) -> dict[str, float]:
    """One epoch of step 1, 2 or 3. Returns the epoch's mean losses."""
    cfg, nets = ctx.cfg, ctx.nets
    scfg = getattr(cfg, f"step{step}")
    nets.model.train()
    if step == 2:
        nets.model.refine.eval()  # frozen after step 1, BN statistics included
    data = ctx.train3d
    if step == 1 and ctx.train2d is not None:
        data = {k: torch.cat([ctx.train3d[k], ctx.train2d[k]]) for k in ctx.train3d}
    batches = _batches(ctx, data, scfg.batch_size, step, epoch)
    only = _batches(ctx, ctx.train2d, scfg.batch_size, step, epoch + 7919) if ctx.train2d is not None else []
    sums: dict[str, float] = {}
    bar = tqdm(batches, desc=f"step {step} epoch {epoch + 1}/{scfg.epochs}", leave=False,
               disable=not (ctx.progress and ctx.info.is_main))
    for i, idx in enumerate(bar):
        batch = _take(data, idx)
        if step == 1:
            refined = nets.w("refine")(batch["kp2d"], batch["conf"])
            loss = refine_loss(refined, batch["kp2d_gt"], batch["conf"])
            opt["opt"]["pose"].zero_grad(set_to_none=True)
            loss.backward()
            opt["opt"]["pose"].step()
            terms = {"ref": float(loss.detach())}
        else:
            b2 = _take(ctx.train2d, only[i % len(only)]) if only else None
            terms, aug = gan_update(ctx, batch, b2, opt["opt"]["gen"], opt["opt"]["disc"],
                                    hardness_beta(cfg, step, epoch))
            pose_batch = _cat(batch, _aug_batch(batch, aug)) if cfg.loss.augment else batch
            terms |= pose_update(ctx, pose_batch, opt["opt"]["pose"], refine=step == 3)
            if step == 3 and b2 is not None:
                terms |= {f"2donly_{k}": v for k, v in pose_update(ctx, b2, opt["opt"]["pose"], True).items()
                          if k in ("pose_ref", "pose_2d_only", "pose_teacher", "pose_total")}
        for k, v in terms.items():
            sums[k] = sums.get(k, 0.0) + v
        ctx.global_iter += 1
        if ctx.info.is_main and ctx.global_iter % cfg.run.log_every == 0:
            bar.set_postfix({k: f"{v:.4g}" for k, v in list(terms.items())[:4]})
            log.info("step %d epoch %d iter %d/%d %s", step, epoch + 1, i + 1, len(batches),
                     " ".join(f"{k}={v:.4g}" for k, v in terms.items()))
            if ctx.writer is not None:
                for k, v in terms.items():
                    ctx.writer.add_scalar(f"step{step}/{k}", v, ctx.global_iter)
    for s in opt["sched"].values():
        s.step()
    n = max(len(batches), 1)
    return {k: ddp.all_mean(v / n, ctx.info) for k, v in sorted(sums.items())}


def _state(ctx: Context, step: int, epoch: int, opt: dict[str, Any]) -> dict[str, Any]:
    nets = ctx.nets
    return {"train_config": to_dict(ctx.cfg), "step": step, "epoch": epoch,
            "generator": nets.gen.state_dict(), "disc3d": nets.d3.state_dict(),
            "disc2d": nets.d2.state_dict(),
            "optimizers": {k: o.state_dict() for k, o in opt["opt"].items()},
            "schedulers": {k: s.state_dict() for k, s in opt["sched"].items()},
            "torch_rng": torch.get_rng_state(), "global_iter": ctx.global_iter, "history": ctx.history}


def _restore(ctx: Context, path: str) -> tuple[int, int, dict[str, Any]]:
    """Load a `last.pt`; returns (step, next epoch, its optimiser/scheduler states)."""
    ckpt = read_checkpoint(path)
    if "step" not in ckpt:
        raise InputError(f"{path}: not a training checkpoint (no optimiser state); cannot --resume")
    nets = ctx.nets
    nets.model.load_state_dict({k: v.float() if v.is_floating_point() else v
                                for k, v in ckpt["model"].items()})
    nets.gen.load_state_dict(ckpt["generator"])
    nets.d3.load_state_dict(ckpt["disc3d"])
    nets.d2.load_state_dict(ckpt["disc2d"])
    torch.set_rng_state(ckpt["torch_rng"])
    ctx.global_iter = int(ckpt["global_iter"])
    ctx.history = list(ckpt["history"])
    return int(ckpt["step"]), int(ckpt["epoch"]) + 1, {"optimizers": ckpt["optimizers"],
                                                        "schedulers": ckpt["schedulers"]}


def _tensorboard(cfg: TrainConfig, out_dir: Path, info: ddp.DistInfo) -> Any:
    if not (cfg.run.tensorboard and info.is_main):
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # the tensorboard package is optional
        return None
    return SummaryWriter(str(out_dir / "tensorboard"))


def train(cfg: TrainConfig, resume: str | None = None, progress: bool = True) -> dict[str, Any]:
    """Run the schedule; returns {"checkpoint": path, "metrics": {row: {...}}, "mean_pose": (17,3) list}
    (the metrics have a "<set>/mean-pose" row beside each test set: the number to beat)."""
    info = ddp.setup(cfg.run.device)
    if cfg.run.threads > 0:
        torch.set_num_threads(cfg.run.threads)
    seed_everything(cfg.run.seed)
    t0 = time.perf_counter()
    train3d, train2d = registry.train_sets(cfg.data)
    tests = registry.test_sets(cfg.data) if info.is_main else {}
    log.info("data: %d 2D-3D samples, %d 2D-only, test sets %s (%.1f s)", len(train3d),
             0 if train2d is None else len(train2d), {k: len(v) for k, v in tests.items()},
             time.perf_counter() - t0)
    dev = info.device
    nets = Nets(PoseModel(cfg.model).to(dev), Generator(cfg.augmentor).to(dev),
                KCSDiscriminator3D(cfg.discriminator).to(dev), KCSDiscriminator2D(cfg.discriminator).to(dev))
    out_dir = Path(cfg.run.out_dir)
    if info.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
    ctx = Context(cfg, info, nets, to_tensors(train3d, dev),
                  None if train2d is None else to_tensors(train2d, dev), out_dir, progress,
                  _tensorboard(cfg, out_dir, info))
    start_step, start_epoch, saved = 1, 0, None
    if resume:
        start_step, start_epoch, saved = _restore(ctx, resume)
        log.info("resumed from %s at step %d epoch %d", resume, start_step, start_epoch + 1)
    for step in (1, 2, 3):
        scfg = getattr(cfg, f"step{step}")
        if step < start_step or scfg.epochs <= 0:
            continue
        nets.model.refine.requires_grad_(step != 2)
        names = ("model", "gen", "d3", "d2") if step > 1 else ()
        nets.wrapped = {k: ddp.wrap(getattr(nets, k), info) for k in names}
        if step == 1:
            nets.wrapped["refine"] = ddp.wrap(nets.model.refine, info)
        opt = make_optimizers(ctx, step)
        first = 0
        if saved is not None and step == start_step:
            for k, o in opt["opt"].items():
                o.load_state_dict(saved["optimizers"][k])
            for k, s in opt["sched"].items():
                s.load_state_dict(saved["schedulers"][k])
            first, saved = start_epoch, None
        for epoch in range(first, scfg.epochs):
            t_ep = time.perf_counter()
            means = run_epoch(ctx, step, epoch, opt)
            ctx.history.append({"step": step, "epoch": epoch + 1, **means})
            if info.is_main:
                log.info("step %d epoch %d/%d done in %.1f s: %s", step, epoch + 1, scfg.epochs,
                         time.perf_counter() - t_ep, " ".join(f"{k}={v:.4g}" for k, v in means.items()))
                save_checkpoint(out_dir / "last.pt", nets.model, _state(ctx, step, epoch, opt))
    nets.model.refine.requires_grad_(True)
    mean = mean_pose(train3d) if train3d.has_3d.any() else None
    result: dict[str, Any] = {"metrics": {}, "mean_pose": None if mean is None else mean.tolist()}
    if info.is_main:
        result["metrics"] = evaluate_all(nets.model, tests, mean, dev)
        final = save_checkpoint(out_dir / "final.pt", nets.model,
                                {"train_config": to_dict(cfg), "metrics": result["metrics"],
                                 "mean_pose": result["mean_pose"], "history": ctx.history})
        result["checkpoint"] = str(final)
        log.info("trained in %.1f s; final checkpoint %s", time.perf_counter() - t0, final)
    if ctx.writer is not None:
        ctx.writer.close()
    ddp.cleanup(info)
    return result
