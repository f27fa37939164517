"""The runner interface (onnxruntime, torch-CPU), backend choice, and bad models and feeds."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from camerapose.core.errors import InputError, ModelError
from camerapose.engines.export import random_pose_inputs, torch_forward
from camerapose.engines.runner import BackendUnavailable, OnnxRuntimeRunner
from camerapose.engines.select import create_runner
from camerapose.engines.signature import OUTPUT_ORDER
from camerapose.engines.torch_runner import TorchRunner, bucket_for

onnx = pytest.importorskip("onnx")


def _foreign_onnx(path, input_name="image", shape=(1, 3, 8, 8)):
    """A valid ONNX that is not a CameraPose pose model: one Identity from `input_name` to `out`."""
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info(input_name, TensorProto.FLOAT, list(shape))
    y = helper.make_tensor_value_info("out", TensorProto.FLOAT, list(shape))
    graph = helper.make_graph([helper.make_node("Identity", [input_name], ["out"])], "foreign", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 10
    onnx.save(model, str(path))
    return path


def test_runner_is_a_context_manager_that_times_itself(exported_onnx):
    runner = OnnxRuntimeRunner(exported_onnx)
    with pytest.raises(RuntimeError, match="with runner"):
        runner.infer(random_pose_inputs(1))
    with runner:
        out = runner.infer(random_pose_inputs(3))
        assert runner.last_inference_ms is not None and runner.last_inference_ms > 0
    assert not runner.is_active
    assert {k: v.shape for k, v in out.items()} == {
        "kp2d_refined": (3, 17, 2), "kp3d": (3, 17, 3), "focal": (3, 2), "center": (3, 2), "t": (3, 3)}


@pytest.mark.parametrize("feed, message", [
    ({"kp2d": np.zeros((2, 17, 2), np.float32)}, r"inputs must be exactly \{kp2d: float32\[batch, 17, 2\]"),
    ({"kp2d": np.zeros((2, 17, 2), np.float64), "conf": np.zeros((2, 17), np.float32)}, "got float64"),
    ({"kp2d": np.zeros((2, 16, 2), np.float32), "conf": np.zeros((2, 16), np.float32)}, r"\[batch, 17, 2\]"),
    ({"kp2d": np.zeros((2, 17, 2), np.float32), "conf": np.zeros((3, 17), np.float32)}, "disagree"),
    ({"kp2d": np.zeros((0, 17, 2), np.float32), "conf": np.zeros((0, 17), np.float32)}, "batch 0"),
])
def test_bad_feed_says_what_was_expected(exported_onnx, feed, message):
    with create_runner(exported_onnx, backend="onnxruntime") as r, pytest.raises(InputError, match=message):
        r.infer(feed)


def test_auto_falls_back_to_onnxruntime_and_logs_why(exported_onnx, caplog):
    import torch

    caplog.set_level(logging.INFO, logger="camerapose.engines.select")
    with create_runner(exported_onnx) as r:
        assert r.backend == "onnxruntime" or torch.cuda.is_available()
        r.infer(random_pose_inputs(2))
    text = caplog.text
    if not torch.cuda.is_available():
        assert "skipping tensorrt" in text and "skipping torch-CUDA" in text
        assert "auto: using onnxruntime" in text


def test_forced_tensorrt_without_it_is_a_clear_error(exported_onnx):
    pytest.importorskip("camerapose.engines.build")
    try:
        import tensorrt  # noqa: F401
        pytest.skip("TensorRT is installed here")
    except ImportError:
        pass
    with pytest.raises(BackendUnavailable, match="TensorRT is not installed"):
        create_runner(exported_onnx, backend="tensorrt")


def test_forced_torch_without_the_source_checkpoint_is_a_clear_error(exported_onnx):
    with pytest.raises(BackendUnavailable, match="no checkpoint with sha256 abababab"):
        create_runner(exported_onnx, backend="torch")


def test_unknown_backend_and_missing_file_are_input_errors(exported_onnx, tmp_path):
    with pytest.raises(InputError, match="unknown backend"):
        create_runner(exported_onnx, backend="openvino")
    with pytest.raises(InputError, match="no such model file"):
        create_runner(tmp_path / "missing.onnx")


def test_foreign_onnx_is_refused_with_its_names(tmp_path):
    path = _foreign_onnx(tmp_path / "foreign.onnx")
    with pytest.raises(ModelError, match=r"not a CameraPose pose model: inputs are \['image'\]"):
        create_runner(path)


def test_onnx_with_our_names_but_wrong_shapes_is_refused(tmp_path):
    path = _foreign_onnx(tmp_path / "shapes.onnx", input_name="kp2d", shape=(1, 17, 3))
    with pytest.raises(ModelError, match="not a CameraPose pose model"):
        create_runner(path)


def test_corrupt_onnx_is_a_model_error_not_a_crash(tmp_path, exported_onnx):
    bad = tmp_path / "corrupt.onnx"
    bad.write_bytes(exported_onnx.read_bytes()[:5000])
    with pytest.raises(ModelError, match="not a loadable ONNX model"):
        create_runner(bad)


def test_onnx_without_our_metadata_is_refused(tmp_path, exported_onnx):
    proto = onnx.load(str(exported_onnx))
    del proto.metadata_props[:]
    path = tmp_path / "nometa.onnx"
    onnx.save(proto, str(path))
    with pytest.raises(ModelError, match="missing CameraPose metadata"):
        create_runner(path)


def test_torch_cpu_runner_matches_onnxruntime(pose_model, exported_onnx):
    feed = random_pose_inputs(7, seed=3)
    with TorchRunner(pose_model, device="cpu") as tr, OnnxRuntimeRunner(exported_onnx) as orr:
        a, b = tr.infer(feed), orr.infer(feed)
        assert tr.last_inference_ms is not None
    for name in OUTPUT_ORDER:
        np.testing.assert_allclose(a[name], b[name], rtol=0, atol=1e-4, err_msg=name)


@pytest.mark.slow
def test_torch_backend_finds_the_checkpoint_by_its_hash(exported_onnx, pose_model, tmp_path):
    """create_runner(backend="torch") loads the checkpoint whose sha256 the ONNX names."""
    ckpt_mod = pytest.importorskip("camerapose.models.checkpoint")
    ckpt = tmp_path / "model.pt"
    ckpt_mod.save_checkpoint(ckpt, pose_model)
    from camerapose.engines.export import export_pose_model, pose_metadata
    from camerapose.engines.signature import sha256_file

    onnx_path = export_pose_model(pose_model, tmp_path / "pose_model.onnx",
                                  pose_metadata("h36m17", "screen_long", {}, sha256_file(ckpt)))
    feed = random_pose_inputs(5)
    with create_runner(onnx_path, backend="torch", device="cpu") as r:
        assert r.backend == "torch"
        got = r.infer(feed)
    want = torch_forward(pose_model, feed)
    for name in OUTPUT_ORDER:
        np.testing.assert_allclose(got[name], want[name], rtol=0, atol=1e-4, err_msg=name)


def test_bucket_is_the_smallest_that_fits_and_overflow_is_refused():
    buckets = (1, 2, 4, 8)
    assert [bucket_for(n, buckets) for n in (1, 2, 3, 5, 8)] == [1, 2, 4, 8, 8]
    with pytest.raises(InputError, match="over the largest"):
        bucket_for(9, buckets)


@pytest.mark.gpu
@pytest.mark.parametrize("batch", [1, 7, 300])
def test_torch_cuda_graph_fp16_matches_fp32_torch(pose_model, batch):
    feed = random_pose_inputs(batch, seed=batch)
    want = torch_forward(pose_model.float().cpu(), feed)
    with TorchRunner(pose_model, device="cuda", buckets=(1, 8, 512)) as r:
        assert r.max_batch == 512
        for _ in range(2):  # a second replay must give the same answer (padding rows are independent)
            got = r.infer(feed)
    for name in OUTPUT_ORDER:
        scale = np.abs(want[name]).max() + 1e-3
        np.testing.assert_allclose(got[name], want[name], rtol=0, atol=2e-2 * scale, err_msg=name)


def test_onnxruntime_runner_takes_provider_options_and_drops_absent_providers(exported_onnx):
    providers = [("TensorrtExecutionProvider", {"trt_fp16_enable": True}), "CUDAExecutionProvider",
                 ("CPUExecutionProvider", {})]
    with OnnxRuntimeRunner(exported_onnx, providers=providers) as r:
        import onnxruntime as ort

        used = r._session.get_providers()
        assert used[-1] == "CPUExecutionProvider"
        assert set(used) <= set(ort.get_available_providers())
        r.infer(random_pose_inputs(2))


def test_torch_cuda_on_a_machine_without_cuda_is_backend_unavailable(pose_model):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(BackendUnavailable, match="CUDA requested"), TorchRunner(pose_model, device="cuda"):
        pass
