"""The streaming runtime: sources, detector, tracker, lift stage, publisher, supervisor.

`subscribe` (the Python client) is importable from here without loading the rest.
"""

from camerapose.runtime.wire.client import subscribe

__all__ = ["subscribe"]
