"""TOML configs, overrides and their errors."""

from __future__ import annotations

import pytest

from camerapose.core.errors import InputError
from camerapose.train.config import CONFIG_DIR, TrainConfig, load_config


def test_defaults_are_the_papers_recipe():
    cfg = TrainConfig()
    assert (cfg.step1.epochs, cfg.step1.lr, cfg.step1.milestones) == (100, 1e-4, (30, 60, 90))
    assert (cfg.step2.epochs, cfg.step2.lr) == (10, 1e-4)
    assert (cfg.step3.epochs, cfg.step3.lr, cfg.step3.milestones) == (75, 5e-4, (30, 60))
    lam = cfg.loss
    assert (lam.lambda_cam, lam.lambda_2d, lam.lambda_2d_only, lam.lambda_3d) == (0.01, 0.5, 0.2, 1.0)


@pytest.mark.parametrize("name", ["paper.toml", "default.toml", "synthetic.toml", "tiny.toml"])
def test_shipped_configs_load(name):
    cfg = load_config(CONFIG_DIR / name)
    assert cfg.model.lifter.kind == "martinez"


def test_paper_config_uses_the_papers_widths_and_data():
    cfg = load_config(CONFIG_DIR / "paper.toml")
    assert (cfg.model.refine.width, cfg.model.lifter.width, cfg.model.camera.width) == (512, 1024, 512)
    assert cfg.data.train_3d == "h36m" and "mpii" in cfg.data.train_2d_only


def test_overrides_change_only_what_they_name():
    cfg = load_config(CONFIG_DIR / "tiny.toml", ["step3.epochs=2", "loss.lambda_cam=0.5",
                                                 'data.test=["synthetic"]', "run.out_dir=elsewhere"])
    base = load_config(CONFIG_DIR / "tiny.toml")
    assert cfg.step3.epochs == 2 and cfg.loss.lambda_cam == 0.5 and cfg.run.out_dir == "elsewhere"
    assert cfg.step3.lr == base.step3.lr and cfg.step1 == base.step1


def test_unknown_key_names_the_key_and_the_file(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[step3]\nepochz = 3\n")
    with pytest.raises(InputError, match=r"bad\.toml.*'step3\.epochz'"):
        load_config(path)
    with pytest.raises(InputError, match=r"^--set loss\.lambda_foo=1: unknown config key 'loss\.lambda_foo'"):
        load_config(None, ["loss.lambda_foo=1"])


@pytest.mark.parametrize("override, match", [
    ("step1.epochs=1.5", "must be an integer"),
    ("loss.augment=3", "true or false"),
    ("data.test=3", "must be a list"),
    ("step1=3", "must be a table"),
    ("loss.lambda_cam=nan", "must be a finite number"),
    ("nonsense", "key.path=value"),
])
def test_wrong_types_are_input_errors(override, match):
    with pytest.raises(InputError, match=match):
        load_config(None, [override])


def test_missing_and_invalid_files(tmp_path):
    with pytest.raises(InputError, match="no such config file"):
        load_config(tmp_path / "none.toml")
    bad = tmp_path / "broken.toml"
    bad.write_text("[step1\n")
    with pytest.raises(InputError, match="malformed TOML"):
        load_config(bad)
