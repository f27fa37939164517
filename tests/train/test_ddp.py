"""Torch DDP: two CPU processes on the gloo backend, launched with torchrun."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from camerapose.models.checkpoint import read_checkpoint
from camerapose.train.config import CONFIG_DIR

pytestmark = pytest.mark.slow  # processes, models or training: not in `make test-fast`


def test_torchrun_two_cpu_processes_train_one_model(tmp_path):
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "camerapose", "train", "--config", str(CONFIG_DIR / "tiny.toml"), "--no-progress",
           "--set", f'run.out_dir="{out}"', "--set", "step1.epochs=1", "--set", "step2.epochs=1",
           "--set", "step3.epochs=2", "--set", "data.synthetic.n_test=50"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("| synthetic |") == 1  # only rank 0 reports
    ckpt = read_checkpoint(out / "final.pt")
    assert [h["step"] for h in ckpt["history"]] == [1, 2, 3, 3]
    assert all(torch.isfinite(v).all() for v in ckpt["model"].values() if v.is_floating_point())
