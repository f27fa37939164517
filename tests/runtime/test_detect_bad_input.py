"""Bad input never crashes the detector: a clear error or an empty result."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from camerapose.core.errors import AssetError, InputError, ModelError
from camerapose.runtime.detect.base import Detector, DetectorConfig
from camerapose.runtime.detect.registry import create_detector


@pytest.fixture(scope="module")
def config(detector_models: tuple[Path, Path]) -> DetectorConfig:
    det, lm = detector_models
    return DetectorConfig(detector_model=str(det), landmark_model=str(lm))


@pytest.fixture(scope="module")
def detector(config: DetectorConfig) -> Detector:
    with create_detector(config) as det:
        yield det


@pytest.fixture(scope="module")
def person_frame(demo_video: Path) -> np.ndarray:
    """Frame 136 of the demo video: people in view, found from this frame alone even in grey."""
    cap = cv2.VideoCapture(str(demo_video))
    cap.set(cv2.CAP_PROP_POS_FRAMES, 136)
    ok, frame = cap.read()
    cap.release()
    assert ok
    return frame


@pytest.mark.parametrize(
    "shape",
    [(0, 0, 3), (1, 1, 3), (1, 1), (8, 8, 3), (480, 640, 3), (4320, 7680, 3)],
    ids=["empty", "1x1", "1x1-gray", "8x8", "black-vga", "black-8k"],
)
def test_frames_without_a_picture_give_no_person(detector: Detector, shape: tuple[int, ...]) -> None:
    assert detector.detect([np.zeros(shape, np.uint8)], [0.0], streams=["bad"]) == [[]]


def test_grayscale_and_bgra_frames_are_converted(detector: Detector, person_frame: np.ndarray) -> None:
    gray = cv2.cvtColor(person_frame, cv2.COLOR_BGR2GRAY)
    bgra = cv2.cvtColor(person_frame, cv2.COLOR_BGR2BGRA)
    found = detector.detect([gray, gray[..., None], bgra], [0.0, 0.0, 0.0], streams=["g", "g1", "a"])
    assert all(len(p) >= 1 for p in found)
    gray_bgr = detector.detect([cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)], [0.0], streams=["g3"])[0]
    ref = detector.detect([person_frame], [0.0], streams=["bgr"])[0]
    # Grey (HxW or HxWx1) is grey as BGR; BGRA is the BGR picture: same keypoints.
    for got, want in ((found[0], gray_bgr), (found[1], gray_bgr), (found[2], ref)):
        assert len(got) == len(want)
        assert np.allclose(got[0].kp2d, want[0].kp2d, atol=1e-3)


def test_an_8k_frame_with_people_is_handled(detector: Detector, person_frame: np.ndarray) -> None:
    big = cv2.resize(person_frame, (7680, 4320), interpolation=cv2.INTER_LINEAR)
    found = detector.detect([big], [0.0], streams=["8k"])[0]
    assert found and all(p.box[2] <= 7680 * 1.2 for p in found)
    assert max(p.box[3] - p.box[1] for p in found) > 1000  # keypoints scaled to the 8K frame


@pytest.mark.parametrize(
    ("frame", "match"),
    [
        (np.zeros((10, 10, 3), np.float32), "uint8"),
        (np.zeros((10, 10, 5), np.uint8), "shape"),
        ("not a frame", "numpy"),
    ],
)
def test_frames_of_the_wrong_kind_are_an_input_error(detector: Detector, frame: object, match: str) -> None:
    with pytest.raises(InputError, match=match):
        detector.detect([frame], [0.0])


def test_mismatched_lists_are_an_input_error(detector: Detector) -> None:
    with pytest.raises(InputError, match="same length"):
        detector.detect([np.zeros((4, 4, 3), np.uint8)], [0.0, 1.0])


def test_missing_model_points_to_assets_fetch(config: DetectorConfig, tmp_path: Path) -> None:
    with pytest.raises(AssetError, match="camerapose assets fetch"):
        create_detector(replace(config, landmark_model=str(tmp_path / "nope.tflite")))


def test_a_bogus_model_file_is_a_model_error(config: DetectorConfig, tmp_path: Path) -> None:
    junk = tmp_path / "pose_detection.tflite"
    junk.write_bytes(b"this is not a flatbuffer" * 100)
    with pytest.raises(ModelError, match="not a loadable"):
        create_detector(replace(config, detector_model=str(junk)))


def test_a_model_of_the_wrong_kind_is_a_model_error(config: DetectorConfig) -> None:
    with pytest.raises(ModelError, match="expected one float32 input"):
        create_detector(replace(config, detector_model=config.landmark_model))
    with pytest.raises(ModelError, match="expected one float32 input"):
        create_detector(replace(config, landmark_model=config.detector_model))


def test_bad_config_values_are_input_errors() -> None:
    with pytest.raises(InputError, match="backend"):
        DetectorConfig(backend="yolo")
    with pytest.raises(InputError, match="max_persons"):
        DetectorConfig(max_persons=0)
    with pytest.raises(InputError, match="detector_tiles"):
        DetectorConfig(detector_tiles="3")
