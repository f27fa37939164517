"""ONNX export: names, dynamic batch axis, opset/IR, metadata, and torch vs onnxruntime parity."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from camerapose.core.errors import ModelError
from camerapose.engines.export import export_pose_model, pose_metadata, random_pose_inputs, torch_forward
from camerapose.engines.runner import OnnxRuntimeRunner
from camerapose.engines.signature import FORMAT, META_KEYS, OUTPUT_ORDER

onnx = pytest.importorskip("onnx")
REPO = Path(__file__).resolve().parents[2]
DEFAULT_ONNX = REPO / "engines" / "models" / "pose_default.onnx"
DEFAULT_CKPT = REPO / "train" / "weights" / "default.pt"


@pytest.mark.slow
def test_export_has_fixed_names_dynamic_batch_opset_and_ir(exported_onnx):
    proto = onnx.load(str(exported_onnx))
    assert proto.ir_version <= 10
    assert max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) >= 17
    assert [i.name for i in proto.graph.input] == ["kp2d", "conf"]
    assert [o.name for o in proto.graph.output] == list(OUTPUT_ORDER)
    for vi in [*proto.graph.input, *proto.graph.output]:
        assert vi.type.tensor_type.shape.dim[0].dim_param == "batch", vi.name


@pytest.mark.slow  # needs an exported model / a demo run (module fixture)
def test_export_writes_the_metadata_the_runtime_reads(exported_onnx):
    with OnnxRuntimeRunner(exported_onnx) as r:
        meta = r.metadata
    assert set(META_KEYS) <= set(meta)
    assert meta["camerapose.format"] == FORMAT
    assert meta["joint_format"] == "h36m17" and meta["normalization"] == "screen_long"
    assert json.loads(meta["model_config"]) == {"preset": "default", "seed": 0}
    assert meta["checkpoint_sha256"] == "ab" * 32


@pytest.mark.slow  # needs an exported model / a demo run (module fixture)
@pytest.mark.parametrize("batch", [1, 7, 256])
def test_torch_and_onnxruntime_agree_within_1e4(pose_model, exported_onnx, batch):
    feed = random_pose_inputs(batch, seed=100 + batch)
    want = torch_forward(pose_model, feed)
    with OnnxRuntimeRunner(exported_onnx) as r:
        got = r.infer(feed)
    for name in OUTPUT_ORDER:
        assert got[name].shape == want[name].shape
        np.testing.assert_allclose(got[name], want[name], rtol=0, atol=1e-4, err_msg=name)


@pytest.mark.slow
def test_export_refuses_a_model_with_the_wrong_outputs(tmp_path):
    import torch

    class TwoOutputs(torch.nn.Module):
        def forward(self, kp2d, conf):
            return kp2d * 2, conf

    with pytest.raises(ModelError, match="outputs"):
        meta = pose_metadata("h36m17", "screen_long", {}, "0")
        export_pose_model(TwoOutputs(), tmp_path / "bad.onnx", meta)
    assert not (tmp_path / "bad.onnx").exists()


@pytest.mark.skipif(not DEFAULT_ONNX.is_file() or not DEFAULT_CKPT.is_file(),
                    reason="the shipped default model is not exported yet")
@pytest.mark.parametrize("batch", [1, 7, 256])
def test_shipped_default_onnx_matches_its_checkpoint(batch):
    from camerapose.engines.signature import sha256_file
    from camerapose.models.checkpoint import load_pose_model

    model, _ = load_pose_model(DEFAULT_CKPT)
    with OnnxRuntimeRunner(DEFAULT_ONNX) as r:
        assert r.metadata["checkpoint_sha256"] == sha256_file(DEFAULT_CKPT), (
            "pose_default.onnx is stale: re-run "
            "`camerapose export train/weights/default.pt --out engines/models`")
        feed = random_pose_inputs(batch, seed=batch)
        got = r.infer(feed)
    want = torch_forward(model.float(), feed)
    for name in OUTPUT_ORDER:
        np.testing.assert_allclose(got[name], want[name], rtol=0, atol=1e-4, err_msg=name)


@pytest.mark.slow
def test_export_command_writes_pose_stem_onnx_with_the_checkpoint_hash(pose_model, tmp_path, capsys):
    from camerapose.cli import main
    from camerapose.engines.signature import sha256_file

    ckpt_mod = pytest.importorskip("camerapose.models.checkpoint")
    ckpt = ckpt_mod.save_checkpoint(tmp_path / "mine.pt", pose_model)
    assert main(["export", str(ckpt), "--out", str(tmp_path / "models")]) == 0
    out = Path(capsys.readouterr().out.strip())
    assert out == tmp_path / "models" / "pose_mine.onnx"
    with OnnxRuntimeRunner(out) as r:
        meta = r.metadata
    assert meta["checkpoint_sha256"] == sha256_file(ckpt)
    assert json.loads(meta["model_config"])["lifter"]["kind"] == "martinez"


def test_export_command_on_a_missing_checkpoint_is_one_line(tmp_path, capsys):
    from camerapose.cli import main

    assert main(["export", str(tmp_path / "nope.pt"), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no such checkpoint" in err and err.strip().count("\n") == 0


@pytest.mark.skipif(not DEFAULT_ONNX.is_file() or not DEFAULT_CKPT.is_file(),
                    reason="the shipped default model is not exported yet")
def test_torch_backend_runs_the_shipped_default_from_its_checkpoint():
    from camerapose.engines.select import create_runner

    feed = random_pose_inputs(4, seed=9)
    with create_runner(DEFAULT_ONNX, backend="torch", device="cpu") as tr, \
            create_runner(DEFAULT_ONNX, backend="onnxruntime") as orr:
        assert tr.backend == "torch" and tr.metadata["joint_format"] == "h36m17"
        a, b = tr.infer(feed), orr.infer(feed)
    for name in OUTPUT_ORDER:
        np.testing.assert_allclose(a[name], b[name], rtol=0, atol=1e-4, err_msg=name)
