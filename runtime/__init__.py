"""The streaming runtime: sources, detector, tracker, lift stage, publisher, supervisor.

`subscribe` (the Python client) is importable from here without loading the rest, and only when
asked for: importing any other part of the runtime (e.g. `camerapose.estimate`) loads no ZeroMQ.
"""

from typing import Any

__all__ = ["subscribe"]


def __getattr__(name: str) -> Any:
    if name == "subscribe":
        from camerapose.runtime.wire.client import subscribe

        return subscribe
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
