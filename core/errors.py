"""Exceptions that the command line reports as one clear line and a non-zero exit.

Raise these for anything a user can cause (a missing file, a bad config, a wrong model); let
programming errors stay ordinary exceptions so their tracebacks reach the developer.
"""


class CameraPoseError(Exception):
    """Base of every user-facing error; `str(err)` is the whole message."""

    exit_code = 2


class InputError(CameraPoseError):
    """A file, device, config value or message that cannot be used as given."""


class AssetError(CameraPoseError):
    """An asset that is missing from the cache, fails its checksum, or cannot be fetched."""


class ModelError(CameraPoseError):
    """A model or engine file that is not what CameraPose expects (names, shapes, corrupt)."""
