"""The detector registry: a backend by name, so the backends and their interface (detect.base)
never import each other in a circle. Backends load lazily: blazepose needs LiteRT, onnx needs
onnxruntime."""

from __future__ import annotations

from camerapose.core.errors import InputError
from camerapose.runtime.detect.base import Detector, DetectorConfig


def create_detector(cfg: DetectorConfig | None = None, runner: object | None = None) -> Detector:
    """The configured backend, models loaded (ModelError / AssetError for missing or bad files).

    `runner`: for the "onnx" backend, an engines `Runner` already built for the keypoint model
    (e.g. a TensorRT runner on a Jetson); default an onnxruntime runner on `cfg.onnx.model`.
    """
    cfg = cfg or DetectorConfig()
    if cfg.backend == "blazepose":
        if runner is not None:
            raise InputError("the blazepose backend runs its .tflite models itself; `runner` is for onnx")
        from camerapose.runtime.detect.blazepose import BlazePoseDetector

        return BlazePoseDetector(cfg)
    from camerapose.runtime.detect.onnx_keypoints import OnnxKeypointDetector

    return OnnxKeypointDetector(cfg, runner=runner)  # type: ignore[arg-type]
