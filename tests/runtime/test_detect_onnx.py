"""The ONNX keypoint backend: decoding checked on small generated models with known outputs."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from camerapose.core.errors import InputError, ModelError
from camerapose.core.skeleton import to_h36m
from camerapose.engines.runner import OnnxRuntimeRunner
from camerapose.runtime.detect.base import DetectorConfig, OnnxModelConfig
from camerapose.runtime.detect.onnx_keypoints import (
    OnnxKeypointDetector,
    decode_heatmap,
    decode_simcc,
    decode_yolo_pose,
)
from camerapose.runtime.detect.registry import create_detector

from .conftest import unsmoothed

K = 17
W, H = 48, 64  # model input (width, height)


def constant_model(path: Path, outputs: dict[str, np.ndarray], in_shape: tuple) -> Path:
    """An ONNX model whose outputs are the given constants, broadcast over the input's batch.

    Each output = constant (1, ...) + 0 * mean(input) reshaped to (B, 1, ...), so the batch
    follows the input as a real model's would.
    """
    nodes = [
        helper.make_node("ReduceMean", ["input"], ["m"], axes=[1, 2, 3], keepdims=1),
        helper.make_node("Mul", ["m", "zero"], ["z"]),
    ]
    inits = [numpy_helper.from_array(np.zeros((), np.float32), "zero")]
    outs = []
    for name, value in outputs.items():
        shape = np.array([-1] + [1] * (value.ndim - 1), np.int64)
        inits += [
            numpy_helper.from_array(value.astype(np.float32), f"{name}_c"),
            numpy_helper.from_array(shape, f"{name}_s"),
        ]
        nodes += [
            helper.make_node("Reshape", ["z", f"{name}_s"], [f"{name}_z"]),
            helper.make_node("Add", [f"{name}_z", f"{name}_c"], [name]),
        ]
        outs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", *value.shape[1:]]))
    graph = helper.make_graph(
        nodes,
        "constant",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", *in_shape[1:]])],
        outs,
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 10
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


@pytest.fixture
def keypoints(rng: np.random.Generator) -> np.ndarray:
    """Known COCO-17 keypoints in model-input pixels (integers, away from the border)."""
    return np.column_stack([rng.integers(4, W - 4, K), rng.integers(4, H - 4, K)]).astype(np.float64)


def simcc_outputs(kp: np.ndarray, ratio: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    x = np.full((1, K, int(W * ratio)), 0.1)
    y = np.full((1, K, int(H * ratio)), 0.1)
    for k, (px, py) in enumerate(kp):
        x[0, k, int(px * ratio)] = 0.9
        y[0, k, int(py * ratio)] = 0.8
    return x, y


def test_decode_simcc_finds_the_peaks(keypoints: np.ndarray) -> None:
    x, y = simcc_outputs(keypoints)
    xy, conf = decode_simcc(x, y, 2.0)
    assert np.allclose(xy[0], keypoints) and np.allclose(conf, 0.8)


def test_decode_heatmap_moves_a_quarter_cell_towards_the_higher_neighbour() -> None:
    hm = np.zeros((1, 2, 16, 12), np.float32)
    hm[0, 0, 5, 7], hm[0, 0, 5, 8], hm[0, 0, 6, 7] = 0.9, 0.5, 0.3  # right + down neighbours higher
    hm[0, 1, 0, 0] = 0.7  # on the border: no shift
    xy, conf = decode_heatmap(hm, (W, H))
    assert np.allclose(xy[0, 0], [(7 + 0.25) * 4, (5 + 0.25) * 4])
    assert np.allclose(xy[0, 1], [0, 0]) and np.allclose(conf[0], [0.9, 0.7])


def test_decode_yolo_pose_thresholds_and_suppresses() -> None:
    kp = np.arange(K * 3, dtype=np.float32).reshape(K, 3) % 7
    rows = np.zeros((3, 5 + 3 * K), np.float32)
    rows[0, :5] = [30, 30, 20, 40, 0.9]
    rows[1, :5] = [31, 30, 20, 40, 0.8]  # overlaps row 0: suppressed
    rows[2, :5] = [10, 10, 5, 5, 0.1]  # below the score threshold
    rows[:, 5:] = kp.reshape(-1)
    for out in (rows.T, rows):  # both layouts
        boxes, scores, xy, conf = decode_yolo_pose(out, K, 0.25, 0.45, 4)
        assert np.allclose(scores, [0.9]) and np.allclose(boxes, [[20, 10, 40, 50]])
        assert np.allclose(xy[0], kp[:, :2]) and np.allclose(conf[0], np.clip(kp[:, 2], 0, 1))
    with pytest.raises(ModelError, match="5\\+3K"):
        decode_yolo_pose(np.zeros((10, 10)), K, 0.25, 0.45, 4)


def onnx_config(model: Path, **kw: object) -> DetectorConfig:
    return unsmoothed(DetectorConfig(
        backend="onnx", onnx=OnnxModelConfig(model=str(model), input_size=(W, H), **kw)
    ))


def test_simcc_model_end_to_end_maps_keypoints_to_frame_pixels(tmp_path: Path, keypoints: np.ndarray) -> None:
    x, y = simcc_outputs(keypoints)
    model = constant_model(tmp_path / "simcc.onnx", {"simcc_x": x, "simcc_y": y}, (1, 3, H, W))
    frame = np.full((2 * H, 2 * W, 3), 128, np.uint8)  # same aspect as the model: 2 frame px per input px
    with create_detector(onnx_config(model, person_boxes="full_frame")) as det:
        persons = det.detect([frame, frame], [0.0, 0.0], streams=["a", "b"])
    want, _ = to_h36m((keypoints * 2).astype(np.float32), "coco17")
    for ps in persons:
        assert len(ps) == 1
        assert np.allclose(ps[0].kp2d, want, atol=1e-3)
        assert np.allclose(ps[0].conf, 0.8) and ps[0].id == 1
        assert ps[0].det3d is None and "kp3d_teacher" not in ps[0].to_json()  # no 3D from this backend


def test_heatmap_model_end_to_end(tmp_path: Path) -> None:
    hm = np.zeros((1, K, H // 4, W // 4), np.float32)
    cells = [(3 + k % 8, 2 + k % 9) for k in range(K)]  # (row, col), peaks with equal neighbours
    for k, (r, c) in enumerate(cells):
        hm[0, k, r, c] = 0.95
    model = constant_model(tmp_path / "hm.onnx", {"heatmaps": hm}, (1, 3, H, W))
    frame = np.zeros((H, W, 3), np.uint8)
    with create_detector(onnx_config(model, layout="heatmap", person_boxes="full_frame")) as det:
        ps = det.detect([frame], [0.0])[0]
    coco = np.array([[c * 4, r * 4] for r, c in cells], np.float32)
    assert np.allclose(ps[0].kp2d, to_h36m(coco, "coco17")[0], atol=1e-3)


def test_yolo_pose_model_end_to_end_undoes_the_letterbox(tmp_path: Path) -> None:
    side = 64
    kp = np.zeros((K, 3), np.float32)
    kp[:, 0] = np.linspace(20, 44, K)
    kp[:, 1] = np.linspace(24, 40, K)  # inside the letterboxed picture (rows 16..48)
    kp[:, 2] = 0.9
    rows = np.zeros((1, 5 + 3 * K, 2), np.float32)
    rows[0, :5, 0] = [32, 32, 30, 20, 0.95]
    rows[0, 5:, 0] = kp.reshape(-1)
    rows[0, 4, 1] = 0.01
    model = constant_model(tmp_path / "yolo.onnx", {"output0": rows}, (1, 3, side, side))
    frame = np.zeros((64, 128, 3), np.uint8)  # 2 frame px per input px, 16 input rows of padding
    cfg = onnx_config(model, layout="yolo_pose", mean=(0, 0, 0), std=(255, 255, 255))
    cfg = replace(cfg, onnx=replace(cfg.onnx, input_size=(side, side)))
    with create_detector(cfg) as det:
        ps = det.detect([frame], [0.0])[0]
    want = np.column_stack([kp[:, 0] * 2, (kp[:, 1] - 16) * 2])
    assert len(ps) == 1 and ps[0].score == pytest.approx(0.95)
    assert np.allclose(ps[0].kp2d, to_h36m(want, "coco17")[0], atol=1e-3)


def test_top_down_with_blazepose_person_boxes_on_a_real_frame(
    tmp_path: Path, keypoints: np.ndarray, demo_video: Path, detector_models: tuple[Path, Path]
) -> None:
    x, y = simcc_outputs(keypoints)
    model = constant_model(tmp_path / "simcc.onnx", {"simcc_x": x, "simcc_y": y}, (1, 3, H, W))
    cap = cv2.VideoCapture(str(demo_video))
    cap.set(cv2.CAP_PROP_POS_FRAMES, 136)
    frame = cap.read()[1]
    cfg = replace(onnx_config(model), detector_model=str(detector_models[0]))
    with create_detector(cfg) as det:
        first = det.detect([frame], [0.0])[0]
        second = det.detect([frame], [1 / 30])[0]  # tracking: boxes from the last keypoints
    assert len(first) >= 1 and [p.id for p in second] == [p.id for p in first]
    for p in first:
        assert (p.kp2d >= -50).all() and (p.kp2d[:, 0] <= frame.shape[1] + 50).all()


def test_runner_injection_and_model_checks(tmp_path: Path, keypoints: np.ndarray) -> None:
    x, y = simcc_outputs(keypoints)
    model = constant_model(tmp_path / "simcc.onnx", {"simcc_x": x, "simcc_y": y}, (1, 3, H, W))
    cfg = onnx_config(model, person_boxes="full_frame")
    det = OnnxKeypointDetector(cfg, runner=OnnxRuntimeRunner(model.read_bytes()))
    assert len(det.detect([np.zeros((H, W, 3), np.uint8)], [0.0])[0]) == 1
    det.close()
    no_path = replace(cfg, onnx=replace(cfg.onnx, model=""))
    with create_detector(no_path, runner=OnnxRuntimeRunner(model.read_bytes())) as det:
        assert len(det.detect([np.zeros((H, W, 3), np.uint8)], [0.0])[0]) == 1
    with pytest.raises(ModelError, match="input_size"):
        create_detector(replace(cfg, onnx=replace(cfg.onnx, input_size=(W + 1, H))))
    with pytest.raises(ModelError, match="needs 2 output"):
        one = constant_model(tmp_path / "one.onnx", {"simcc_x": x}, (1, 3, H, W))
        create_detector(replace(cfg, onnx=replace(cfg.onnx, model=str(one))))
    with pytest.raises(InputError, match="needs a model"):
        create_detector(replace(cfg, onnx=replace(cfg.onnx, model="")))
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00garbage" * 50)
    with pytest.raises(ModelError, match="not a loadable ONNX"):
        create_detector(replace(cfg, onnx=replace(cfg.onnx, model=str(junk))))
    with pytest.raises(InputError, match="layout"):
        OnnxModelConfig(layout="centernet")


def test_a_persons_tight_and_loose_boxes_are_one_person_not_two() -> None:
    from camerapose.runtime.detect.onnx_keypoints import add_new_persons

    tracked = [np.array([100, 100, 200, 400], np.float32)]
    loose = np.array([60, 40, 240, 460], np.float32)  # the same person seen coarser: box IoU 0.40
    beside = np.array([260, 100, 360, 400], np.float32)  # someone next to them
    assert [b.tolist() for b in add_new_persons(tracked, [loose, beside], 0.75, 4)] == [beside.tolist()]
    assert add_new_persons(tracked, [beside], 0.75, 1) == []  # no room left
