"""Checkpoints: a model rebuilt from the file alone, and one-line ModelErrors for files that are not ours."""

from __future__ import annotations

import pytest
import torch

from camerapose.core.errors import ModelError
from camerapose.models.checkpoint import load_pose_model, save_checkpoint
from camerapose.models.pose import PoseModel, PoseModelConfig, RefineConfig
from camerapose.train.config import CONFIG_DIR, load_config


def test_checkpoint_rebuilds_model_alone_in_fp16(tmp_path):
    torch.manual_seed(0)
    cfg = load_config(CONFIG_DIR / "tiny.toml")
    model = PoseModel(cfg.model).eval()
    path = save_checkpoint(tmp_path / "w.pt", model, {"metrics": {"synthetic": {"mpjpe": 1.0}}}, half=True)
    loaded, info = load_pose_model(path)
    assert not loaded.training
    assert info["joint_format"] == "h36m17" and info["normalization"] == "screen_long"
    assert len(info["sha256"]) == 64 and info["model_config"]["lifter"]["width"] == cfg.model.lifter.width
    assert info["metrics"] == {"synthetic": {"mpjpe": 1.0}}
    x, c = torch.randn(2, 17, 2) * 0.2, torch.rand(2, 17)
    for a, b in zip(model(x, c), loaded(x, c), strict=True):
        assert torch.allclose(a, b, atol=5e-2, rtol=1e-2)
    assert loaded.refine.mlp.out.weight.dtype == torch.float32


def test_bad_checkpoints_raise_model_error(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        load_pose_model(tmp_path / "missing.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError, match=r"junk\.pt"):
        load_pose_model(junk)
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {}}, foreign)
    with pytest.raises(ModelError, match="not a CameraPose checkpoint"):
        load_pose_model(foreign)


def _edited_checkpoint(tmp_path, edit):
    """A small model's checkpoint with `edit(model_config dict)` applied to its stored config."""
    path = save_checkpoint(tmp_path / "w.pt", PoseModel(PoseModelConfig(RefineConfig(16, 1))))
    ckpt = torch.load(path, weights_only=True)
    edit(ckpt["model_config"])
    torch.save(ckpt, path)
    return path


def test_a_stored_config_that_does_not_fit_this_version_is_a_model_error(tmp_path):
    unknown_key = _edited_checkpoint(tmp_path, lambda cfg: cfg["lifter"].update(depth=3))
    with pytest.raises(ModelError, match=r"w\.pt: model_config: unknown config key 'lifter\.depth'"):
        load_pose_model(unknown_key)
    wrong_type = _edited_checkpoint(tmp_path, lambda cfg: cfg["refine"].update(width="wide"))
    with pytest.raises(ModelError, match=r"'refine\.width' must be an integer"):
        load_pose_model(wrong_type)
    unknown_kind = _edited_checkpoint(tmp_path, lambda cfg: cfg["lifter"].update(kind="transformer"))
    with pytest.raises(ModelError, match="unknown 'transformer'"):
        load_pose_model(unknown_kind)


def test_a_stored_config_without_a_key_keeps_its_default(tmp_path):
    path = _edited_checkpoint(tmp_path, lambda cfg: cfg["camera"].pop("focal_prior"))
    model, _ = load_pose_model(path)
    assert model.cfg.camera.focal_prior == PoseModelConfig().camera.focal_prior
