"""`camerapose view`: serve the live 3D viewer for a running pose stream (`run` or `replay`).

Imports nothing of aiohttp until the command runs, so `--help` works without the `view` extra
and a missing extra is one line naming it. `start_viewer` is how `camerapose run --view` starts
the same command beside the runtime.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys

from camerapose.children import dies_with_parent
from camerapose.cli import Command
from camerapose.core.errors import InputError

DEFAULT_HTTP = "127.0.0.1:8765"
NEEDS_EXTRA = "`camerapose view` needs aiohttp: pip install 'camerapose[view]'"


def _default_endpoint() -> str:
    from camerapose.runtime.wire.publisher import PublishConfig

    return PublishConfig().endpoint


def configure_view(p: argparse.ArgumentParser) -> None:
    p.description = (
        "Serve a web page (on this machine only, unless --allow-remote) that draws a running pose "
        "stream live in 3D: skeletons with their ids, each person's estimated camera, fps, latency "
        "and stage timings. Works with `camerapose run` and `camerapose replay`."
    )
    p.add_argument("--endpoint", default=_default_endpoint(),
                   help="where the runtime publishes (default %(default)s)")
    p.add_argument("--stream", action="append", metavar="NAME",
                   help="only this stream (exact name; repeatable; default all)")
    p.add_argument("--http", default=DEFAULT_HTTP, metavar="HOST:PORT",
                   help="where to serve the page (default %(default)s; port 0 = any free port)")
    p.add_argument("--allow-remote", action="store_true",
                   help="allow serving on a non-loopback address (shows the stream to the network)")
    p.add_argument("--server-key", help="the publisher's Z85 CURVE public key (if it uses CURVE)")


def _check(endpoint: str, http: str, allow_remote: bool) -> tuple[str, int]:
    """Fail fast with one line: a bad address, or no aiohttp. Returns the HTTP (host, port)."""
    from camerapose.runtime.wire.publisher import check_endpoint

    from .bridge import parse_http

    host, port = parse_http(http, allow_remote)
    check_endpoint(endpoint, allow_remote=True)  # its form only: connecting to a remote one is fine
    if importlib.util.find_spec("aiohttp") is None:
        raise InputError(NEEDS_EXTRA)
    return host, port


def run_view(a: argparse.Namespace) -> int:
    host, port = _check(a.endpoint, a.http, a.allow_remote)
    try:
        from . import server
    except ImportError as err:  # find_spec found a module that does not import
        raise InputError(f"{NEEDS_EXTRA} ({err})") from None
    return server.run(a.endpoint, a.stream, host, port, a.server_key, a.allow_remote)


def start_viewer(endpoint: str, http: str, allow_remote: bool, server_key: str = "") -> subprocess.Popen:
    """`camerapose view` as a child process (it prints its URL); InputError before starting if it
    could not run. The viewer is only a subscriber: if it fails or is closed, the runtime goes on."""
    _check(endpoint, http, allow_remote)
    cmd = [sys.executable, "-m", "camerapose", "view", "--endpoint", endpoint, "--http", http]
    if allow_remote:
        cmd.append("--allow-remote")
    if server_key:
        cmd += ["--server-key", server_key]
    return subprocess.Popen(cmd, preexec_fn=dies_with_parent())


def stop_viewer(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


COMMANDS = {"view": Command(configure_view, run_view)}
