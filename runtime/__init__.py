"""The streaming runtime: sources, detector, tracker, lift stage, publisher, supervisor.

`subscribe` (the Python client) is importable from here without loading the rest.
"""

from .client import subscribe

__all__ = ["subscribe"]
