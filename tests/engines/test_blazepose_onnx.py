"""BlazePose's networks as ONNX (`camerapose assets fetch --onnx`) and the runner that picks LiteRT,
onnxruntime or TensorRT for them (`detector.backend_runtime`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from camerapose.assets import read_manifest
from camerapose.core.errors import AssetError, InputError
from camerapose.engines import blazepose_onnx, select
from camerapose.engines.runner import OnnxRuntimeRunner
from camerapose.engines.tflite_to_onnx import batch_patch


def _reshape_model(path: Path) -> None:
    """A graph shaped like the detector's head: (1, 4, 4, 24) -> Reshape [1, -1, 12] -> (1, 32, 12)."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Reshape", ["r", "shape"], ["y"])], "head",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 4, 24])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 32, 12])],
        [numpy_helper.from_array(np.array([1, -1, 12], np.int64), "shape")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))


def test_batch_patch_makes_a_batch_of_one_graph_take_any_batch(tmp_path: Path, rng) -> None:
    path = tmp_path / "head.onnx"
    _reshape_model(path)
    assert batch_patch(path)["reshapes"] == 1
    x = rng.normal(size=(3, 4, 4, 24)).astype(np.float32)
    with OnnxRuntimeRunner(path, threads=2, spin=False) as runner:  # as the detector runs it
        assert runner.inputs["x"].shape[0] == "batch"
        y = runner.infer({"x": x})["y"]
    # Batch-major: each image's rows stay its own (the .tflite's reshape would mix them into one).
    np.testing.assert_array_equal(y, np.maximum(x, 0).reshape(3, 32, 12))


def test_check_inputs_are_three_square_views_per_frame_in_the_networks_range(rng) -> None:
    frames = [rng.integers(0, 256, (90, 160, 3), dtype=np.uint8) for _ in range(2)]
    det, lm = blazepose_onnx.NETWORKS
    x = blazepose_onnx.network_inputs(frames, det)
    assert x.shape == (6, 224, 224, 3) and x.dtype == np.float32
    assert -1.0 <= x.min() and x.max() <= 1.0
    assert blazepose_onnx.network_inputs(frames, lm).max() <= 1.0


def test_the_image_runner_refuses_unknown_runtimes_and_points_to_the_onnx_step(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="backend_runtime"):
        select.create_image_runner("a.tflite", "a.onnx", "cuda")
    with pytest.raises(AssetError, match=r"assets fetch --onnx"):
        select.create_image_runner(tmp_path / "a.tflite", tmp_path / "a.onnx", "onnxruntime")


def test_detector_config_refuses_an_unknown_backend_runtime() -> None:
    from camerapose.runtime.detect.base import DetectorConfig

    with pytest.raises(InputError, match="backend_runtime"):
        DetectorConfig(backend_runtime="tflite")


@pytest.mark.assets
def test_auto_takes_litert_on_a_machine_without_an_nvidia_gpu(detector_models, detector_onnx) -> None:
    if select._nvidia_driver_present():
        pytest.skip("this machine has an NVIDIA driver: auto picks a GPU runtime here")
    runner = select.create_image_runner(detector_models[1], detector_onnx[1], "auto")
    try:
        assert runner.backend == "litert"
    finally:
        runner.deactivate()


@pytest.mark.slow
@pytest.mark.assets
def test_the_converted_models_are_recorded_as_checked_against_litert(assets_dir, detector_models,
                                                                       detector_onnx) -> None:
    entries = read_manifest(assets_dir)
    for tflite, onnx in zip(detector_models, detector_onnx, strict=True):
        entry = entries[onnx.name]
        assert entry["format"] == "converted" and entry["check"]["passed"] is True
        assert entry["license"] and entry["source"] == tflite.name
        assert blazepose_onnx.is_converted(assets_dir, onnx.name, tflite)


@pytest.mark.slow
@pytest.mark.assets
def test_the_check_passes_the_conversion_and_fails_a_damaged_one(tmp_path, demo_video, detector_models,
                                                                  detector_onnx) -> None:
    onnx = pytest.importorskip("onnx")
    from onnx import numpy_helper

    frames = blazepose_onnx.check_frames(demo_video, 3)
    det = blazepose_onnx.NETWORKS[0]
    good = blazepose_onnx.check_conversion(detector_models[0], detector_onnx[0], det, frames)
    assert good["passed"] and good["inputs"] == 9
    # One convolution's weights off by 1 %: far less than a broken op, far more than kernels differ.
    model = onnx.load(str(detector_onnx[0]))
    weights = next(t for t in model.graph.initializer if numpy_helper.to_array(t).ndim == 4)
    weights.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(weights) * np.float32(1.01), weights.name))
    damaged = tmp_path / "damaged.onnx"
    onnx.save(model, str(damaged))
    assert not blazepose_onnx.check_conversion(detector_models[0], damaged, det, frames)["passed"]


def _detect(video: Path, *sets: str) -> list[dict]:
    cmd = [sys.executable, "-m", "camerapose", "detect", str(video), "--json"]
    for s in sets:
        cmd += ["--set", s]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return [json.loads(line) for line in proc.stdout.splitlines()]


@pytest.mark.slow
@pytest.mark.assets
def test_detect_on_onnxruntime_finds_the_same_persons_within_half_a_pixel_of_litert(demo_video,
                                                                                    detector_onnx) -> None:
    lite = _detect(demo_video, "detector.backend_runtime=litert")
    ort = _detect(demo_video, "detector.backend_runtime=onnxruntime")
    assert len(lite) == len(ort) == 230
    dist, same = [], 0
    for a, b in zip(lite, ort, strict=True):
        pa = {p["id"]: np.array(p["kp2d"]) for p in a["persons"]}
        pb = {p["id"]: np.array(p["kp2d"]) for p in b["persons"]}
        same += set(pa) == set(pb)
        dist += [d for i in set(pa) & set(pb) for d in np.linalg.norm(pa[i] - pb[i], axis=1)]
    assert same >= 228, f"the same persons on only {same} of 230 frames"
    assert np.median(dist) <= 0.5, f"median 2D difference {np.median(dist):.3f} px"
