"""Fixtures for the engine tests: a randomly initialised PoseModel and its export."""

from __future__ import annotations

from pathlib import Path

import pytest


def random_pose_model(seed: int = 0):
    """The default-preset PoseModel with every weight AND batch-norm statistic randomised, so parity
    checks exercise every layer (the trainer zero-initialises RefineNet's output layer)."""
    torch = pytest.importorskip("torch")
    from camerapose.models.pose import PoseModel, PoseModelConfig

    torch.manual_seed(seed)
    model = PoseModel(PoseModelConfig())
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(torch.randn_like(p) * (0.05 if name.endswith("weight") else 0.02))
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    return model.eval()


@pytest.fixture(scope="session")
def pose_model():
    return random_pose_model()


@pytest.fixture(scope="session")
def exported_onnx(pose_model, tmp_path_factory) -> Path:
    from camerapose.engines.export import export_pose_model, pose_metadata

    out = tmp_path_factory.mktemp("export") / "pose_random.onnx"
    meta = pose_metadata("h36m17", "screen_long", {"preset": "default", "seed": 0}, "ab" * 32)
    return export_pose_model(pose_model, out, meta)
