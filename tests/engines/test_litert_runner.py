"""The LiteRT runner: BlazePose's .tflite files behind the Runner interface every backend shares."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from camerapose.core.errors import InputError, ModelError
from camerapose.engines.litert_runner import LiteRTRunner

pytestmark = pytest.mark.assets


def test_litert_runner_declares_a_dynamic_batch_and_the_networks_outputs(detector_models) -> None:
    with LiteRTRunner(detector_models[1]) as runner:
        [spec] = runner.inputs.values()
        assert spec.name == "input_1" and spec.shape == ("batch", 256, 256, 3) and spec.dtype == np.float32
        assert runner.outputs["Identity"].shape == ("batch", 195)
        assert runner.outputs["Identity_3"].shape == ("batch", 64, 64, 39)
        assert runner.metadata == {}


def test_a_batch_gives_what_each_crop_gives_alone(detector_models, rng) -> None:
    x = rng.uniform(0, 1, (3, 256, 256, 3)).astype(np.float32)
    with LiteRTRunner(detector_models[1]) as runner:
        batch = runner.infer({"input_1": x})
        alone = [runner.infer({"input_1": x[i:i + 1]}) for i in range(3)]
    for key in ("Identity", "Identity_1", "Identity_4"):
        assert batch[key].shape[0] == 3
        np.testing.assert_allclose(batch[key], np.concatenate([a[key] for a in alone]), atol=1e-4)


def test_feeds_that_do_not_match_are_refused_with_what_was_expected(detector_models) -> None:
    with LiteRTRunner(detector_models[0], max_batch=1) as runner:
        with pytest.raises(InputError, match="224"):
            runner.infer({"input_1": np.zeros((1, 256, 256, 3), np.float32)})
        with pytest.raises(InputError, match="float32"):
            runner.infer({"input_1": np.zeros((1, 224, 224, 3), np.uint8)})
        with pytest.raises(InputError, match=r"outside 1\.\.1"):  # the detector graph cannot batch
            runner.infer({"input_1": np.zeros((2, 224, 224, 3), np.float32)})


def test_reference_kernels_agree_with_xnnpack_to_a_small_tolerance(detector_models, rng) -> None:
    x = rng.uniform(0, 1, (1, 256, 256, 3)).astype(np.float32)
    fast, ref = LiteRTRunner(detector_models[1]), LiteRTRunner(detector_models[1], reference_kernels=True)
    with fast, ref:
        a, b = fast.infer({"input_1": x}), ref.infer({"input_1": x})
    np.testing.assert_allclose(a["Identity_4"], b["Identity_4"], atol=1e-3)


def test_a_missing_or_corrupt_model_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="no such model file"):
        LiteRTRunner(tmp_path / "none.tflite").activate()
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"not a flatbuffer" * 10)
    with pytest.raises(ModelError, match="not a loadable TFLite model"):
        LiteRTRunner(bad).activate()
