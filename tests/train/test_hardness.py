"""PoseAug's hardness feedback in the training loop: it reaches the generator only, leaves the pose
model (weights, BN statistics, modes) alone, makes augmentations harder, and follows its switches."""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch

from camerapose.core.camera import reproject
from camerapose.core.errors import InputError
from camerapose.train import distributed as ddp
from camerapose.train.config import LossConfig, StepConfig, TrainConfig, load_config
from camerapose.train.loop import (
    Context,
    Nets,
    gan_update,
    hardness_beta,
    lifter_errors,
    make_optimizers,
    run_epoch,
)
from camerapose.train.losses import hardness_feedback_loss
from camerapose.train.models import (
    AugmentorConfig,
    CameraConfig,
    DiscriminatorConfig,
    Generator,
    KCSDiscriminator2D,
    KCSDiscriminator3D,
    LifterConfig,
    PoseModel,
    PoseModelConfig,
    RefineConfig,
)


def _cfg(**loss: object) -> TrainConfig:
    small = PoseModelConfig(RefineConfig(32, 1), LifterConfig(width=32, blocks=1), CameraConfig(32, 1))
    steps = StepConfig(epochs=4, lr=1e-2, batch_size=16, max_iters_per_epoch=2)
    parts = {"model": small, "augmentor": AugmentorConfig(width=32), "discriminator": DiscriminatorConfig(16)}
    return TrainConfig(**parts, loss=LossConfig(**loss), step2=steps, step3=steps)


def _batch(n: int = 32) -> dict[str, torch.Tensor]:
    """Random root-relative 3D poses 4-6 m in front of a camera, their clean 2D as input and label."""
    g = torch.Generator().manual_seed(3)
    kp3d = torch.randn(n, 17, 3, generator=g) * 0.3
    kp3d = kp3d - kp3d[:, :1]
    focal, center = torch.full((n, 2), 1.5), torch.zeros(n, 2)
    t = torch.cat([torch.zeros(n, 2), 4 + 2 * torch.rand(n, 1, generator=g)], 1)
    uv = reproject(kp3d, focal, center, t)
    return {"kp2d": uv, "conf": torch.ones(n, 17), "kp2d_gt": uv, "kp3d": kp3d, "focal": focal,
            "center": center, "t": t, "has_3d": torch.ones(n, dtype=torch.bool),
            "has_camera": torch.ones(n, dtype=torch.bool)}


def _ctx(cfg: TrainConfig, tmp_path) -> Context:
    torch.manual_seed(0)
    nets = Nets(PoseModel(cfg.model), Generator(cfg.augmentor), KCSDiscriminator3D(cfg.discriminator),
                KCSDiscriminator2D(cfg.discriminator))
    return Context(cfg, ddp.DistInfo(), nets, _batch(), None, tmp_path, progress=False)


def _gan_opts(ctx: Context) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
    opt = make_optimizers(ctx, 3)["opt"]
    return opt["gen"], opt["disc"]


def test_the_feedback_alone_gives_the_generator_a_gradient(tmp_path):
    grads = {}
    for hardness in (True, False):  # adversarial and regulariser terms off: only the feedback is left
        ctx = _ctx(_cfg(hardness=hardness, lambda_gan=0.0, lambda_reg=0.0), tmp_path)
        terms, _ = gan_update(ctx, ctx.train3d, None, *_gan_opts(ctx), beta=2.0)
        grads[hardness] = sum(p.grad.abs().sum().item() for p in ctx.nets.gen.parameters()
                              if p.grad is not None)
        assert ("hard" in terms) == hardness
    assert grads[True] > 1e-6 and grads[False] == 0.0


def test_a_generator_update_leaves_the_pose_model_untouched(tmp_path):
    ctx = _ctx(_cfg(), tmp_path)
    model = ctx.nets.model
    model.train()
    model.refine.eval()  # as in step 2: the modes of submodules must come back as they were
    with torch.no_grad():  # BN statistics away from their initial values, so a change would show
        model(ctx.train3d["kp2d"] * 2, ctx.train3d["conf"])
    before = copy.deepcopy(model.state_dict())
    modes = {name: m.training for name, m in model.named_modules()}
    terms, _ = gan_update(ctx, ctx.train3d, None, *_gan_opts(ctx), beta=2.0)
    assert terms["hard"] > 0
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # weights, running stats, counters
    assert all(p.grad is None for p in model.parameters())
    assert {name: m.training for name, m in model.named_modules()} == modes


def test_lifter_errors_are_per_sample_mpjpe_with_gradients_to_the_input_only(tmp_path):
    ctx = _ctx(_cfg(), tmp_path)
    b = ctx.train3d
    kp3d = b["kp3d"][:4].clone().requires_grad_(True)
    err = lifter_errors(ctx.nets.model, b["kp2d"][:4], kp3d)
    model = ctx.nets.model.eval()
    with torch.no_grad():
        pred = model(b["kp2d"][:4], torch.ones(4, 17))[1]
    assert err.shape == (4,)
    assert torch.allclose(err, (pred - kp3d).norm(dim=-1).mean(-1), atol=1e-6)
    err.sum().backward()
    assert kp3d.grad is not None and kp3d.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.parameters())


def _hardness_after_two_updates(hardness: bool, tmp_path) -> tuple[float, float]:
    """(mean e_aug / mean e_orig, feedback loss) on a fixed batch after 2 generator updates."""
    ctx = _ctx(_cfg(hardness=hardness), tmp_path)
    opt_g, opt_d = _gan_opts(ctx)
    for _ in range(2):
        gan_update(ctx, ctx.train3d, None, opt_g, opt_d, beta=3.0)
    model, b = ctx.nets.model, ctx.train3d
    torch.manual_seed(7)  # the same generator noise for both runs
    with torch.no_grad():
        aug = ctx.nets.gen(b["kp3d"], b["t"])
        e_aug = lifter_errors(model, reproject(aug["kp3d"], b["focal"], b["center"], aug["t"]), aug["kp3d"])
        e_orig = lifter_errors(model, b["kp2d_gt"], b["kp3d"])
    return float(e_aug.mean() / e_orig.mean()), float(hardness_feedback_loss(e_aug, e_orig, 3.0))


def test_two_feedback_steps_make_augmentations_harder_than_without(tmp_path):
    ratio_on, loss_on = _hardness_after_two_updates(True, tmp_path)
    ratio_off, loss_off = _hardness_after_two_updates(False, tmp_path)
    assert ratio_on > ratio_off + 0.01, (ratio_on, ratio_off)
    assert loss_on < loss_off, (loss_on, loss_off)


def test_beta_ramps_over_step_3_and_is_off_elsewhere():
    cfg = _cfg(hardness_beta_start=1.5, hardness_beta=3.0)  # step 3: 4 epochs
    assert [hardness_beta(cfg, 3, e) for e in range(4)] == pytest.approx([1.5, 2.0, 2.5, 3.0])
    assert hardness_beta(cfg, 2, 0) is None  # the lifter's warm-up: its error means nothing yet
    assert hardness_beta(_cfg(hardness=False), 3, 1) is None
    assert hardness_beta(_cfg(augment=False), 3, 1) is None  # augmentations never reach the lifter
    assert hardness_beta(_cfg(lambda_hard=0.0), 3, 1) is None


def test_run_epoch_logs_the_hard_term_in_step_3_only(tmp_path):
    ctx = _ctx(_cfg(), tmp_path)
    means3 = run_epoch(ctx, 3, 0, make_optimizers(ctx, 3))
    means2 = run_epoch(ctx, 2, 0, make_optimizers(ctx, 2))
    assert means3["hard"] > 0 and means3["hard_ratio"] > 0
    assert "hard" not in means2
    off = _ctx(dataclasses.replace(_cfg(), loss=LossConfig(hardness=False)), tmp_path)
    assert "hard" not in run_epoch(off, 3, 0, make_optimizers(off, 3))


def test_config_switch_and_bad_values():
    assert load_config(None).loss.hardness is True
    assert load_config(None, ["loss.hardness=false"]).loss.hardness is False
    with pytest.raises(InputError, match="hardness_beta must be >= 1"):
        load_config(None, ["loss.hardness_beta=0.5"])
    with pytest.raises(InputError, match="lambda_hard must be >= 0"):
        load_config(None, ["loss.lambda_hard=-1"])
