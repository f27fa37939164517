"""CameraPose: live monocular 3D human pose with per-person camera estimation.

The package root holds only the version, the command-line dispatcher (`cli`), the asset
cache (`assets`) and what every child process shares (`children`: it dies with its parent).
The work lives in the subpackages:

- `camerapose.core`     pose math shared by all (numpy; no torch)
- `camerapose.train`    torch training of the CameraPose method
- `camerapose.engines`  ONNX export, runners (onnxruntime / torch / TensorRT), CUDA kernels
- `camerapose.runtime`  sources, detector, tracker, lift stage, publisher, supervisor
- `camerapose.benchmarks` latency, throughput and accuracy benchmarks

`camerapose.estimate` (pose messages of a video or camera, in this process, as `Result`s),
`camerapose.track` (all of them at once, as `Results`) and `camerapose.subscribe` (the messages of
a running `camerapose run`) load the runtime only when first used, so `import camerapose` stays
light (docs/python.md).
"""

__all__ = ["Results", "__version__", "estimate", "subscribe", "track"]


def __getattr__(name: str) -> object:
    """`__version__`, `estimate`, `track`, `Results` and `subscribe`, looked up on first use
    (importlib.metadata alone takes 20 ms: the `camerapose` command takes over Ctrl-C sooner without it)."""
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            found = version("camerapose")
        except PackageNotFoundError:  # running from a source tree that was never installed
            found = "0.0.0+unknown"
        globals()["__version__"] = found
        return found
    if name in ("estimate", "track"):
        from camerapose.runtime import inprocess

        return getattr(inprocess, name)
    if name in ("Results", "Result", "Person"):
        from camerapose.runtime import results

        return getattr(results, name)
    if name == "subscribe":
        from camerapose.runtime.wire.client import subscribe

        return subscribe
    raise AttributeError(f"module 'camerapose' has no attribute {name!r}")
