"""PoseAug's hardness feedback in the training loop: it reaches the generator only, leaves the pose
model (weights, BN statistics, modes) alone, makes augmentations harder, and follows its switches."""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch

from camerapose.core.camera import reproject
from camerapose.core.errors import InputError
from camerapose.models.pose import CameraConfig, LifterConfig, PoseModel, PoseModelConfig, RefineConfig
from camerapose.train import distributed as ddp
from camerapose.train.augment import (
    AugmentorConfig,
    DiscriminatorConfig,
    Generator,
    KCSDiscriminator2D,
    KCSDiscriminator3D,
)
from camerapose.train.config import LossConfig, StepConfig, TrainConfig, load_config
from camerapose.train.loop import (
    Carry,
    Nets,
    TrainData,
    gan_update,
    lifter_errors,
    make_optimizers,
    run_epoch,
    set_trainable,
)
from camerapose.train.losses import hardness_feedback_loss
from camerapose.train.schedule import Phase, hardness_beta, schedule


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


def _nets(cfg: TrainConfig) -> Nets:
    torch.manual_seed(0)
    return Nets(PoseModel(cfg.model), Generator(cfg.augmentor), KCSDiscriminator3D(cfg.discriminator),
                KCSDiscriminator2D(cfg.discriminator))


def _phase(cfg: TrainConfig, step: int) -> Phase:
    return next(p for p in schedule(cfg) if p.step == step)


def _gan_opts(nets: Nets, cfg: TrainConfig) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
    opt = make_optimizers(nets, _phase(cfg, 3)).optimizers
    return opt["gen"], opt["disc"]


def test_the_feedback_alone_gives_the_generator_a_gradient():
    grads = {}
    for hardness in (True, False):  # adversarial and regulariser terms off: only the feedback is left
        cfg = _cfg(hardness=hardness, lambda_gan=0.0, lambda_reg=0.0)
        nets = _nets(cfg)
        terms, _ = gan_update(nets, cfg.loss, _batch(), None, *_gan_opts(nets, cfg), beta=2.0)
        grads[hardness] = sum(p.grad.abs().sum().item() for p in nets.gen.parameters()
                              if p.grad is not None)
        assert ("hard" in terms) == hardness
    assert grads[True] > 1e-6 and grads[False] == 0.0


def test_a_generator_update_leaves_the_pose_model_untouched():
    cfg, b = _cfg(), _batch()
    nets = _nets(cfg)
    model = nets.model
    model.train()
    model.refine.eval()  # as in step 2: the modes of submodules must come back as they were
    with torch.no_grad():  # BN statistics away from their initial values, so a change would show
        model(b["kp2d"] * 2, b["conf"])
    before = copy.deepcopy(model.state_dict())
    modes = {name: m.training for name, m in model.named_modules()}
    terms, _ = gan_update(nets, cfg.loss, b, None, *_gan_opts(nets, cfg), beta=2.0)
    assert terms["hard"] > 0
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # weights, running stats, counters
    assert all(p.grad is None for p in model.parameters())
    assert {name: m.training for name, m in model.named_modules()} == modes


def test_lifter_errors_are_per_sample_mpjpe_with_gradients_to_the_input_only():
    b, model = _batch(), _nets(_cfg()).model
    kp3d = b["kp3d"][:4].clone().requires_grad_(True)
    err = lifter_errors(model, b["kp2d"][:4], kp3d)
    model.eval()
    with torch.no_grad():
        pred = model(b["kp2d"][:4], torch.ones(4, 17))[1]
    assert err.shape == (4,)
    assert torch.allclose(err, (pred - kp3d).norm(dim=-1).mean(-1), atol=1e-6)
    err.sum().backward()
    assert kp3d.grad is not None and kp3d.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.parameters())


def _hardness_after_two_updates(hardness: bool) -> tuple[float, float]:
    """(mean e_aug / mean e_orig, feedback loss) on a fixed batch after 2 generator updates."""
    cfg, b = _cfg(hardness=hardness), _batch()
    nets = _nets(cfg)
    opt_g, opt_d = _gan_opts(nets, cfg)
    for _ in range(2):
        gan_update(nets, cfg.loss, b, None, opt_g, opt_d, beta=3.0)
    model = nets.model
    torch.manual_seed(7)  # the same generator noise for both runs
    with torch.no_grad():
        aug = nets.gen(b["kp3d"], b["t"])
        e_aug = lifter_errors(model, reproject(aug["kp3d"], b["focal"], b["center"], aug["t"]), aug["kp3d"])
        e_orig = lifter_errors(model, b["kp2d_gt"], b["kp3d"])
    return float(e_aug.mean() / e_orig.mean()), float(hardness_feedback_loss(e_aug, e_orig, 3.0))


def test_two_feedback_steps_make_augmentations_harder_than_without():
    ratio_on, loss_on = _hardness_after_two_updates(True)
    ratio_off, loss_off = _hardness_after_two_updates(False)
    assert ratio_on > ratio_off + 0.01, (ratio_on, ratio_off)
    assert loss_on < loss_off, (loss_on, loss_off)


def test_beta_ramps_over_step_3_and_is_off_elsewhere():
    cfg = _cfg(hardness_beta_start=1.5, hardness_beta=3.0)  # step 3: 4 epochs
    step3 = _phase(cfg, 3)
    assert [hardness_beta(cfg.loss, step3, e) for e in range(4)] == pytest.approx([1.5, 2.0, 2.5, 3.0])
    assert hardness_beta(cfg.loss, _phase(cfg, 2), 0) is None  # the lifter's warm-up: its error means nothing
    assert hardness_beta(LossConfig(hardness=False), step3, 1) is None
    assert hardness_beta(LossConfig(augment=False), step3, 1) is None  # augmentations never reach the lifter
    assert hardness_beta(LossConfig(lambda_hard=0.0), step3, 1) is None


def _epoch_means(cfg: TrainConfig, nets: Nets, step: int) -> dict[str, float]:
    phase = _phase(cfg, step)
    set_trainable(nets.model, phase)
    means, _ = run_epoch(nets, TrainData(_batch()), cfg, phase, 0, make_optimizers(nets, phase), Carry(),
                         ddp.DistInfo())
    return means


def test_run_epoch_logs_the_hard_term_in_step_3_only():
    cfg = _cfg()
    nets = _nets(cfg)
    means3, means2 = _epoch_means(cfg, nets, 3), _epoch_means(cfg, nets, 2)
    assert means3["hard"] > 0 and means3["hard_ratio"] > 0
    assert "hard" not in means2
    off = dataclasses.replace(cfg, loss=LossConfig(hardness=False))
    assert "hard" not in _epoch_means(off, _nets(off), 3)


def test_config_switch_and_bad_values():
    assert load_config(None).loss.hardness is True
    assert load_config(None, ["loss.hardness=false"]).loss.hardness is False
    with pytest.raises(InputError, match="hardness_beta must be >= 1"):
        load_config(None, ["loss.hardness_beta=0.5"])
    with pytest.raises(InputError, match="lambda_hard must be >= 0"):
        load_config(None, ["loss.lambda_hard=-1"])
