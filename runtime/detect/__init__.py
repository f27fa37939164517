"""2D detection: the detector interface (base), its registry, the BlazePose and ONNX keypoint
backends, the SSD person detector, ROI maths, the tracker and the `camerapose detect` CLI."""
