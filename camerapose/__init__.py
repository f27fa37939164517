"""CameraPose: live monocular 3D human pose with per-person camera estimation.

The package root holds only the version, the command-line dispatcher (`cli`) and the asset
cache (`assets`). The work lives in the subpackages:

- `camerapose.core`     pose math shared by all (numpy; no torch)
- `camerapose.train`    torch training of the CameraPose method
- `camerapose.engines`  ONNX export, runners (onnxruntime / torch / TensorRT), CUDA kernels
- `camerapose.runtime`  sources, detector, tracker, lift stage, publisher, supervisor
- `camerapose.benchmarks` latency, throughput and accuracy benchmarks
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("camerapose")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
