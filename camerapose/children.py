"""What every child process the package starts shares: it does not outlive the process that
started it (a stage, the viewer, a GStreamer pipeline holding a camera, a Triton server)."""

from __future__ import annotations

import contextlib
import ctypes
import signal
import sys
from collections.abc import Callable

PR_SET_PDEATHSIG = 1


def dies_with_parent(ignore_sigint: bool = False) -> Callable[[], None] | None:
    """A `preexec_fn` for subprocess.Popen: the child gets SIGTERM when its parent dies (Linux's
    PR_SET_PDEATHSIG; elsewhere nothing), and with `ignore_sigint` ignores SIGINT from before exec on
    (a terminal's Ctrl-C reaches the whole process group; the parent stops its children itself).

    prctl is looked up here, in the parent: a child forked from a threaded process should not load
    libraries between fork and exec. -> None when there is nothing to do.
    """
    prctl = None
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            prctl = ctypes.CDLL(None, use_errno=True).prctl
    if prctl is None and not ignore_sigint:
        return None

    def preexec() -> None:  # runs in the child between fork and exec
        if prctl is not None:
            with contextlib.suppress(Exception):
                prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if ignore_sigint:
            with contextlib.suppress(ValueError):  # ignored before exec, it stays ignored after
                signal.signal(signal.SIGINT, signal.SIG_IGN)

    return preexec
