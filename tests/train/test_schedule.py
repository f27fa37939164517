"""The schedule table (what each step trains, freezes and runs) and how the loop applies it."""

from __future__ import annotations

import torch

from camerapose.core.camera import reproject
from camerapose.train import distributed as ddp
from camerapose.train.config import load_config
from camerapose.train.loop import (
    Carry,
    TrainData,
    build_nets,
    make_optimizers,
    run_epoch,
    set_trainable,
    wrap_for,
)
from camerapose.train.schedule import PARTS, schedule

# a small model and short steps, with settings that tell the three steps apart
SMALL = ["model.refine.width=16", "model.lifter.width=16", "model.camera.width=16", "augmentor.width=16",
         "discriminator.width=8", "step1.lr=0.1", "step2.lr=0.2", "step3.lr=0.3", "step3.milestones=[1]",
         "step1.max_iters_per_epoch=2", "step2.max_iters_per_epoch=2", "step3.max_iters_per_epoch=2",
         "step1.batch_size=8", "step2.batch_size=8", "step3.batch_size=8"]


def _phases(*extra: str):
    cfg = load_config(None, [*SMALL, *extra])
    return cfg, {p.step: p for p in schedule(cfg)}


def _batch(n: int, has_3d: bool) -> dict[str, torch.Tensor]:
    """Random root-relative poses 4-6 m in front of a camera; their clean 2D as input and label."""
    g = torch.Generator().manual_seed(n)
    kp3d = torch.randn(n, 17, 3, generator=g) * 0.3
    kp3d = kp3d - kp3d[:, :1]
    focal, center = torch.full((n, 2), 1.5), torch.zeros(n, 2)
    t = torch.cat([torch.zeros(n, 2), 4 + 2 * torch.rand(n, 1, generator=g)], 1)
    uv = reproject(kp3d, focal, center, t)
    flag = torch.full((n,), has_3d)
    return {"kp2d": uv, "conf": torch.ones(n, 17), "kp2d_gt": uv, "kp3d": kp3d, "focal": focal,
            "center": center, "t": t, "has_3d": flag, "has_camera": flag}


def _epoch(cfg, nets, phase, data: TrainData) -> dict[str, float]:
    set_trainable(nets.model, phase)
    means, _ = run_epoch(nets, data, cfg, phase, 0, make_optimizers(nets, phase), Carry(), ddp.DistInfo())
    return means


def test_the_steps_run_in_order_with_their_own_settings():
    cfg, _ = _phases()
    phases = schedule(cfg)
    assert [p.step for p in phases] == [1, 2, 3]  # resume compares step numbers
    assert [p.settings for p in phases] == [cfg.step1, cfg.step2, cfg.step3]
    assert [p.settings.lr for p in phases] == [0.1, 0.2, 0.3]


def test_step_1_trains_refinenet_alone_and_freezes_the_rest():
    _, p = _phases()
    assert p[1].trains == ("refine",) and p[1].frozen == ("lifter", "camera")
    assert p[1].refine_alone and not (p[1].gan or p[1].pose or p[1].two_d_only or p[1].hardness)


def test_step_2_freezes_refinenet_and_warms_up_without_its_loss():
    _, p = _phases()
    assert p[2].trains == ("lifter", "camera") and p[2].frozen == ("refine",)
    assert p[2].gan and p[2].pose and not p[2].ref_loss
    assert not (p[2].refine_alone or p[2].two_d_only or p[2].hardness)


def test_step_3_trains_everything_with_the_2d_only_batch_and_hardness():
    _, p = _phases()
    assert p[3].trains == PARTS and p[3].frozen == ()
    assert p[3].gan and p[3].pose and p[3].ref_loss and p[3].two_d_only and p[3].hardness
    assert not p[3].refine_alone


def test_optimiser_groups_follow_the_table():
    cfg, p = _phases()
    nets = build_nets(cfg, torch.device("cpu"))
    model = nets.model
    ids = lambda params: [id(x) for x in params]  # noqa: E731
    opt1, opt2, opt3 = (make_optimizers(nets, p[s]) for s in (1, 2, 3))
    assert opt1.optimizers.keys() == {"pose"}
    assert ids(opt1.optimizers["pose"].param_groups[0]["params"]) == ids(model.refine.parameters())
    assert opt2.optimizers.keys() == opt3.optimizers.keys() == {"pose", "gen", "disc"}
    assert ids(opt2.optimizers["pose"].param_groups[0]["params"]) == \
        ids([*model.lifter.parameters(), *model.camera.parameters()])
    # the order of the model's own parameters: optimiser states saved in last.pt index them by position
    assert ids(opt3.optimizers["pose"].param_groups[0]["params"]) == ids(model.parameters())
    assert opt3.optimizers["pose"].param_groups[0]["lr"] == 0.3
    assert opt3.schedulers["pose"].milestones == {1: 1}


def test_set_trainable_turns_gradients_on_for_the_trained_parts_only():
    cfg, p = _phases()
    model = build_nets(cfg, torch.device("cpu")).model
    set_trainable(model, p[2])
    assert not any(x.requires_grad for x in model.refine.parameters())
    assert all(x.requires_grad for x in [*model.lifter.parameters(), *model.camera.parameters()])
    set_trainable(model, p[3])
    assert all(x.requires_grad for x in model.parameters())


def test_single_process_wrapping_keeps_the_modules_and_names_what_the_step_runs():
    cfg, p = _phases()
    nets = build_nets(cfg, torch.device("cpu"))
    assert wrap_for(nets, p[1], ddp.DistInfo()).wrapped.keys() == {"refine"}
    for step in (2, 3):
        runners = wrap_for(nets, p[step], ddp.DistInfo())
        assert runners.wrapped.keys() == {"model", "gen", "d3", "d2"}
        assert runners.w("model") is nets.model and runners.model is nets.model
    assert nets.wrapped == {}  # a new Nets; the original is left as it was


def test_each_step_logs_the_losses_of_its_updates():
    cfg, p = _phases()
    nets = build_nets(cfg, torch.device("cpu"))
    data = TrainData(_batch(32, True), _batch(24, False))
    assert _epoch(cfg, nets, p[1], data).keys() == {"ref"}
    step2 = _epoch(cfg, nets, p[2], data)
    assert {"d", "g", "reg", "pose_total"} <= step2.keys()
    assert step2["pose_ref"] == 0.0  # L_ref off while RefineNet is frozen
    assert not any(k.startswith("2donly_") or k.startswith("hard") for k in step2)
    step3 = _epoch(cfg, nets, p[3], data)
    assert step3["pose_ref"] > 0 and step3["2donly_pose_2d_only"] > 0 and step3["hard"] > 0
    assert not any(k.startswith("2donly_") for k in _epoch(cfg, nets, p[3], TrainData(data.pairs)))


def test_a_frozen_part_keeps_its_weights_and_batchnorm_statistics():
    cfg, p = _phases("loss.hardness=false")
    nets = build_nets(cfg, torch.device("cpu"))
    refine = {k: v.clone() for k, v in nets.model.refine.state_dict().items()}
    lifter = {k: v.clone() for k, v in nets.model.lifter.state_dict().items()}
    _epoch(cfg, nets, p[2], TrainData(_batch(32, True)))
    assert all(torch.equal(refine[k], v) for k, v in nets.model.refine.state_dict().items())
    assert not all(torch.equal(lifter[k], v) for k, v in nets.model.lifter.state_dict().items())
