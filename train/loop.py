"""The training loop: runs the schedule table of `schedule.py` phase by phase.

Per iteration a phase runs the updates its row turns on (RefineNet alone; the augmentor's
discriminators then its generator; the PoseModel on real + augmented pairs; the PoseModel on a
2D-only batch). `train(cfg)` reads top to bottom: data, nets, then for each phase its optimisers
and epochs (`run_epoch`), writing `last.pt` after every epoch (for `--resume`); at the end it
evaluates on the test sets, writes `final.pt` and returns the metrics.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from camerapose.core.camera import reproject
from camerapose.core.config import to_dict
from camerapose.core.errors import InputError
from camerapose.models.checkpoint import read_checkpoint, save_checkpoint
from camerapose.models.pose import PoseModel

from . import distributed as ddp
from .augment import Generator, KCSDiscriminator2D, KCSDiscriminator3D
from .config import LossConfig, TrainConfig
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
from .schedule import PARTS, Phase, hardness_beta, schedule

log = logging.getLogger(__name__)
Batch = dict[str, torch.Tensor]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


def to_tensors(poses: PoseSet, device: torch.device) -> Batch:
    return {k: torch.from_numpy(np.ascontiguousarray(v)).to(device) for k, v in poses.arrays().items()}


@dataclass(frozen=True)
class TrainData:
    """The training sets as tensors on the training device (`to_tensors`)."""

    pairs: Batch  # the 2D-3D pairs with their cameras
    only_2d: Batch | None = None  # the 2D-only set (3D and camera withheld), or None where there is none


@dataclass(frozen=True)
class Nets:
    """The trained modules, and the DDP wrappers of those a phase runs (`wrap_for`; none
    single-process, where `w` gives the module itself)."""

    model: PoseModel
    gen: Generator
    d3: KCSDiscriminator3D
    d2: KCSDiscriminator2D
    wrapped: dict[str, torch.nn.Module] = field(default_factory=dict)

    def w(self, name: str) -> torch.nn.Module:
        if name in self.wrapped:
            return self.wrapped[name]
        return self.model.refine if name == "refine" else getattr(self, name)


def build_nets(cfg: TrainConfig, device: torch.device) -> Nets:
    """Freshly initialised nets, drawn from the global torch RNG in a fixed order (seed first)."""
    return Nets(PoseModel(cfg.model).to(device), Generator(cfg.augmentor).to(device),
                KCSDiscriminator3D(cfg.discriminator).to(device),
                KCSDiscriminator2D(cfg.discriminator).to(device))


@dataclass(frozen=True)
class Carry:
    """What one epoch hands the next; the rest of the training state is in the nets and optimisers."""

    iteration: int = 0  # iterations run over the whole schedule: log cadence, TensorBoard x axis; in last.pt
    # (B,17,2) detached reprojection of the latest 2D-only batch, extra fakes for the 2D critic
    # (not saved: a resumed run starts without)
    fake2d: torch.Tensor | None = None


@dataclass(frozen=True)
class Optimizers:
    """One Adam and its MultiStepLR per group: "pose" (the PoseModel parts the phase trains), and in
    phases with G/D updates "gen" (the augmentor) and "disc" (both discriminators). The group names
    key their states in last.pt."""

    optimizers: dict[str, torch.optim.Optimizer]
    schedulers: dict[str, torch.optim.lr_scheduler.LRScheduler]

    def state_dict(self) -> dict[str, Any]:
        return {"optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
                "schedulers": {k: s.state_dict() for k, s in self.schedulers.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for k, o in self.optimizers.items():
            o.load_state_dict(state["optimizers"][k])
        for k, s in self.schedulers.items():
            s.load_state_dict(state["schedulers"][k])


# --------------------------------------------------------------------------------------------
# one update of each kind


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


def refine_update(nets: Nets, batch: Batch, opt: torch.optim.Optimizer) -> dict[str, float]:
    """One RefineNet update with L_ref: (detected 2D, confidence) -> ground-truth 2D."""
    refined = nets.w("refine")(batch["kp2d"], batch["conf"])
    loss = refine_loss(refined, batch["kp2d_gt"], batch["conf"])
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return {"ref": float(loss.detach())}


def gan_update(nets: Nets, lam: LossConfig, batch: Batch, batch2d: Batch | None, opt_g: torch.optim.Optimizer,
               opt_d: torch.optim.Optimizer, beta: float | None = None, fake2d: torch.Tensor | None = None,
               ) -> tuple[dict[str, float], dict[str, torch.Tensor]]:
    """One discriminator update, then one generator update (LS-GAN, Eq. 12-15), plus PoseAug's
    hardness feedback with target factor `beta` (`hardness_beta`) when `loss.hardness` is on.

    batch2d: a 2D-only batch, more real samples for the 2D critic; fake2d: (B,17,2) more fakes
    for it (`Carry.fake2d`). Returns the losses and the generator's output (its "kp3d", "t").
    """
    aug = nets.w("gen")(batch["kp3d"], batch["t"])
    aug2d = reproject(aug["kp3d"], batch["focal"], batch["center"], aug["t"])
    real2d = batch["kp2d_gt"] if batch2d is None else torch.cat([batch["kp2d_gt"], batch2d["kp2d_gt"]])
    fakes = aug2d.detach() if fake2d is None else torch.cat([aug2d.detach(), fake2d])
    n3, n2 = len(batch["kp3d"]), len(real2d)
    s3 = nets.w("d3")(torch.cat([batch["kp3d"], aug["kp3d"].detach()]))
    s2 = nets.w("d2")(torch.cat([real2d, fakes]))
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


def pose_update(nets: Nets, lam: LossConfig, batch: Batch, opt: torch.optim.Optimizer, refine: bool,
                ) -> tuple[dict[str, float], torch.Tensor | None]:
    """One PoseModel update with Eq. 16 (samples with 3D) / Eq. 17 (2D-only samples), with L_ref
    when `refine`. Returns the losses and, for a 2D-only batch, its (B,17,2) detached
    reprojection (the 2D critic's next extra fakes), else None."""
    out = nets.w("model")(batch["kp2d"], batch["conf"])
    loss, terms = combined_loss(out, batch, lam, refine=refine)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    fake2d = None
    if not bool(batch["has_3d"].any()):
        fake2d = reproject(*(o.detach() for o in out[1:])).detach()
    return {f"pose_{k}": v for k, v in terms.items()} | {"pose_total": float(loss.detach())}, fake2d


def train_iteration(nets: Nets, lam: LossConfig, phase: Phase, beta: float | None, opt: Optimizers,
                    batch: Batch, batch2d: Batch | None, fake2d: torch.Tensor | None,
                    ) -> tuple[dict[str, float], torch.Tensor | None]:
    """The updates `phase` turns on, in the table's order, on one batch of the main set and (where
    the 2D-only set exists) one 2D-only batch. Returns the losses and the 2D critic's extra fakes."""
    terms: dict[str, float] = {}
    if phase.refine_alone:
        terms |= refine_update(nets, batch, opt.optimizers["pose"])
    aug = None
    if phase.gan:
        gan_terms, aug = gan_update(nets, lam, batch, batch2d, opt.optimizers["gen"], opt.optimizers["disc"],
                                    beta, fake2d)
        terms |= gan_terms
    if phase.pose:
        pose_batch = _cat(batch, _aug_batch(batch, aug)) if lam.augment and aug is not None else batch
        pose_terms, reprojection = pose_update(nets, lam, pose_batch, opt.optimizers["pose"], phase.ref_loss)
        terms |= pose_terms
        fake2d = fake2d if reprojection is None else reprojection
    if phase.two_d_only and batch2d is not None:
        pose_terms, reprojection = pose_update(nets, lam, batch2d, opt.optimizers["pose"], phase.ref_loss)
        terms |= {f"2donly_{k}": v for k, v in pose_terms.items()
                  if k in ("pose_ref", "pose_2d_only", "pose_teacher", "pose_total")}
        fake2d = fake2d if reprojection is None else reprojection
    return terms, fake2d


# --------------------------------------------------------------------------------------------
# one phase


def set_trainable(model: PoseModel, phase: Phase) -> None:
    """Gradients on for the parts `phase` trains, off for its frozen ones. Before `wrap_for`: DDP
    registers the parameters that need gradients when it wraps."""
    for part in PARTS:
        getattr(model, part).requires_grad_(part not in phase.frozen)


def wrap_for(nets: Nets, phase: Phase, info: ddp.DistInfo) -> Nets:
    """`nets` with DDP wrappers for the modules `phase` runs and trains (no-op single-process)."""
    names = (["model"] if phase.pose or phase.two_d_only else []) + (["gen", "d3", "d2"] if phase.gan else [])
    wrapped = {k: ddp.wrap(getattr(nets, k), info) for k in names}
    if phase.refine_alone:
        wrapped["refine"] = ddp.wrap(nets.model.refine, info)
    return replace(nets, wrapped=wrapped)


def make_optimizers(nets: Nets, phase: Phase) -> Optimizers:
    """Fresh Adam optimisers and MultiStepLR schedules for `phase` (its settings' lr, milestones, gamma)."""
    groups = {"pose": [p for part in phase.trains for p in getattr(nets.model, part).parameters()]}
    if phase.gan:
        groups["gen"] = list(nets.gen.parameters())
        groups["disc"] = list(nets.d3.parameters()) + list(nets.d2.parameters())
    s = phase.settings
    opts = {k: torch.optim.Adam(v, lr=s.lr) for k, v in groups.items()}
    scheds = {k: torch.optim.lr_scheduler.MultiStepLR(o, list(s.milestones), s.gamma)
              for k, o in opts.items()}
    return Optimizers(opts, scheds)


def _batches(n: int, phase: Phase, seed: int, epoch: int, info: ddp.DistInfo) -> list[torch.Tensor]:
    """This rank's index batches into a set of `n` samples for one epoch (the same permutation on
    every rank, then sharded), at most `max_iters_per_epoch` of them when that is set."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + phase.step * 10_007 + epoch)
    idx = ddp.shard(torch.randperm(n, generator=g), info)
    bs = min(phase.settings.batch_size, max(len(idx), 2))
    batches = [idx[i : i + bs] for i in range(0, len(idx) - bs + 1, bs)]
    cap = phase.settings.max_iters_per_epoch
    return batches[:cap] if cap > 0 else batches


def _take(data: Batch, idx: torch.Tensor) -> Batch:
    idx = idx.to(data["kp2d"].device)
    return {k: v[idx] for k, v in data.items()}


def _set_modes(model: PoseModel, phase: Phase) -> None:
    """Training mode, except the frozen parts: eval, so their BN statistics stay as they are."""
    model.train()
    for part in phase.frozen:
        getattr(model, part).eval()


def run_epoch(nets: Nets, data: TrainData, cfg: TrainConfig, phase: Phase, epoch: int, opt: Optimizers,
              carry: Carry, info: ddp.DistInfo, *, progress: bool = False, writer: Any = None,
              ) -> tuple[dict[str, float], Carry]:
    """One epoch of `phase` (call `set_trainable` first). Returns the epoch's mean losses (averaged
    over ranks) and what the next epoch needs."""
    _set_modes(nets.model, phase)
    main = data.pairs
    if phase.refine_alone and data.only_2d is not None:  # RefineNet needs only 2D labels
        main = _cat(data.pairs, data.only_2d)
    batches = _batches(len(main["kp2d"]), phase, cfg.run.seed, epoch, info)
    only: list[torch.Tensor] = []
    if data.only_2d is not None and (phase.gan or phase.two_d_only):
        only = _batches(len(data.only_2d["kp2d"]), phase, cfg.run.seed, epoch + 7919, info)
    beta = hardness_beta(cfg.loss, phase, epoch)
    iteration, fake2d = carry.iteration, carry.fake2d
    sums: dict[str, float] = {}
    bar = tqdm(batches, desc=f"step {phase.step} epoch {epoch + 1}/{phase.settings.epochs}", leave=False,
               disable=not (progress and info.is_main))
    for i, idx in enumerate(bar):
        batch2d = _take(data.only_2d, only[i % len(only)]) if only else None
        terms, fake2d = train_iteration(nets, cfg.loss, phase, beta, opt, _take(main, idx), batch2d, fake2d)
        for k, v in terms.items():
            sums[k] = sums.get(k, 0.0) + v
        iteration += 1
        if info.is_main and iteration % cfg.run.log_every == 0:
            bar.set_postfix({k: f"{v:.4g}" for k, v in list(terms.items())[:4]})
            log.info("step %d epoch %d iter %d/%d %s", phase.step, epoch + 1, i + 1, len(batches),
                     " ".join(f"{k}={v:.4g}" for k, v in terms.items()))
            if writer is not None:
                for k, v in terms.items():
                    writer.add_scalar(f"step{phase.step}/{k}", v, iteration)
    for s in opt.schedulers.values():
        s.step()
    n = max(len(batches), 1)
    return {k: ddp.all_mean(v / n, info) for k, v in sorted(sums.items())}, Carry(iteration, fake2d)


# --------------------------------------------------------------------------------------------
# checkpoints and the whole run


@dataclass(frozen=True)
class Resume:
    """Where a run starts: the start of step 1, or where a `last.pt` stopped (`_restore`)."""

    step: int = 1  # the step to continue
    epoch: int = 0  # its next epoch (0-based)
    iteration: int = 0  # Carry.iteration so far
    history: tuple[dict[str, float], ...] = ()  # the epochs' mean losses so far
    optimizers: dict[str, Any] | None = None  # Optimizers.state_dict() of `step`; None for a fresh run


def _state(cfg: TrainConfig, phase: Phase, epoch: int, nets: Nets, opt: Optimizers, carry: Carry,
           history: list[dict[str, float]]) -> dict[str, Any]:
    """The extra entries of `last.pt`: enough to resume after `epoch` of `phase`."""
    return {"train_config": to_dict(cfg), "step": phase.step, "epoch": epoch,
            "generator": nets.gen.state_dict(), "disc3d": nets.d3.state_dict(),
            "disc2d": nets.d2.state_dict(), **opt.state_dict(),
            "torch_rng": torch.get_rng_state(), "global_iter": carry.iteration, "history": history}


def _restore(nets: Nets, path: str) -> Resume:
    """Load a `last.pt` into `nets` and the torch RNG; returns where to resume."""
    ckpt = read_checkpoint(path)
    if "step" not in ckpt:
        raise InputError(f"{path}: not a training checkpoint (no optimiser state); cannot --resume")
    nets.model.load_state_dict({k: v.float() if v.is_floating_point() else v
                                for k, v in ckpt["model"].items()})
    nets.gen.load_state_dict(ckpt["generator"])
    nets.d3.load_state_dict(ckpt["disc3d"])
    nets.d2.load_state_dict(ckpt["disc2d"])
    torch.set_rng_state(ckpt["torch_rng"])
    return Resume(int(ckpt["step"]), int(ckpt["epoch"]) + 1, int(ckpt["global_iter"]), tuple(ckpt["history"]),
                  {"optimizers": ckpt["optimizers"], "schedulers": ckpt["schedulers"]})


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
    data = TrainData(to_tensors(train3d, info.device),
                     None if train2d is None else to_tensors(train2d, info.device))

    nets = build_nets(cfg, info.device)
    out_dir = Path(cfg.run.out_dir)
    if info.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
    writer = _tensorboard(cfg, out_dir, info)
    start = Resume()
    if resume:
        start = _restore(nets, resume)
        log.info("resumed from %s at step %d epoch %d", resume, start.step, start.epoch + 1)
    history, carry = list(start.history), Carry(start.iteration)

    for phase in schedule(cfg):
        if phase.step < start.step or phase.settings.epochs <= 0:
            continue
        log.info("step %d: %s", phase.step, phase.name)
        set_trainable(nets.model, phase)
        runners = wrap_for(nets, phase, info)
        opt = make_optimizers(nets, phase)
        first = 0
        if start.optimizers is not None and phase.step == start.step:  # continue the resumed step
            opt.load_state_dict(start.optimizers)
            first = start.epoch
        for epoch in range(first, phase.settings.epochs):
            t_ep = time.perf_counter()
            means, carry = run_epoch(runners, data, cfg, phase, epoch, opt, carry, info,
                                     progress=progress, writer=writer)
            history.append({"step": phase.step, "epoch": epoch + 1, **means})
            if info.is_main:
                log.info("step %d epoch %d/%d done in %.1f s: %s", phase.step, epoch + 1,
                         phase.settings.epochs, time.perf_counter() - t_ep,
                         " ".join(f"{k}={v:.4g}" for k, v in means.items()))
                save_checkpoint(out_dir / "last.pt", nets.model,
                                _state(cfg, phase, epoch, nets, opt, carry, history))
    nets.model.requires_grad_(True)

    mean = mean_pose(train3d) if train3d.has_3d.any() else None
    result: dict[str, Any] = {"metrics": {}, "mean_pose": None if mean is None else mean.tolist()}
    if info.is_main:
        result["metrics"] = evaluate_all(nets.model, tests, mean, info.device)
        final = save_checkpoint(out_dir / "final.pt", nets.model,
                                {"train_config": to_dict(cfg), "metrics": result["metrics"],
                                 "mean_pose": result["mean_pose"], "history": history})
        result["checkpoint"] = str(final)
        log.info("trained in %.1f s; final checkpoint %s", time.perf_counter() - t0, final)
    if writer is not None:
        writer.close()
    ddp.cleanup(info)
    return result
