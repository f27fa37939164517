"""Exceptions that the command line reports as one clear line and a non-zero exit.

Raise these for anything a user can cause (a missing file, a bad config, a wrong model); let
programming errors stay ordinary exceptions so their tracebacks reach the developer.
"""

import errno


class CameraPoseError(Exception):
    """Base of every user-facing error; `str(err)` is the whole message."""

    exit_code = 2


class InputError(CameraPoseError):
    """A file, device, config value or message that cannot be used as given."""


class AssetError(CameraPoseError):
    """An asset that is missing from the cache, fails its checksum, or cannot be fetched."""


class ModelError(CameraPoseError):
    """A model or engine file that is not what CameraPose expects (names, shapes, corrupt)."""


def write_failed(path: object, err: OSError) -> InputError:
    """An OSError while writing `path` as one line naming the path, why and the errno's name:
    `poses.csv: cannot write (No space left on device, ENOSPC)`."""
    why = err.strerror or str(err)
    name = errno.errorcode.get(err.errno) if err.errno else None
    return InputError(f"{path}: cannot write ({why}{f', {name}' if name else ''})")
