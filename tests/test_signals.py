"""Ctrl-C (SIGINT) exits 130 with one line, whenever it comes: while the command's own modules
import, while the subcommand's modules import, and in `camerapose view`.

The signal is sent by the process itself at a chosen point (a sitecustomize.py on PYTHONPATH
hooks the import or the exec() of the moment), so the timing is exact, not a race."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import urllib.request
from pathlib import Path

import pytest

# Imported by a sitecustomize.py: sends this process SIGINT at the moment TRIGGER names.
HOOK = '''
import builtins, os, signal

TRIGGER = {trigger!r}
real_import, real_exec = builtins.__import__, builtins.exec
armed = []


def interrupt_import(name, *args, **kwargs):
    if TRIGGER == "import " + name:  # as `import NAME` starts
        builtins.__import__ = real_import
        os.kill(os.getpid(), signal.SIGINT)
    if TRIGGER == "exec in " + name:  # the next exec() of a string once NAME imports
        builtins.__import__ = real_import
        armed.append(True)
    return real_import(name, *args, **kwargs)


def interrupt_exec(source, *args):
    if armed and isinstance(source, str):  # the interrupt lands inside the exec'd string
        armed.clear()
        real_exec("import os, signal\\nos.kill(os.getpid(), signal.SIGINT)\\n"
                  "for _ in range(10**6): pass\\n", {{}})
    return real_exec(source, *args)


builtins.__import__ = interrupt_import
builtins.exec = interrupt_exec
'''

ENTRIES = {
    "python -m camerapose": [sys.executable, "-m", "camerapose"],
    "console script": [str(Path(sys.executable).with_name("camerapose"))],
}
MOMENTS = {
    # the handler goes in before the command module's own imports
    "while camerapose.cli imports": "import argparse",
    # @dataclass exec()s strings: a KeyboardInterrupt through one once made CPython die of SIGINT
    "while the subcommand's modules import": "exec in camerapose.runtime.detect.base",
}


@pytest.mark.parametrize("moment", list(MOMENTS))
@pytest.mark.parametrize("entry", list(ENTRIES))
def test_ctrl_c_while_the_command_starts_exits_130_with_one_line(tmp_path: Path, entry: str,
                                                                    moment: str) -> None:
    cmd = ENTRIES[entry]
    if not Path(cmd[0]).exists():
        pytest.skip("no console script in this environment")
    (tmp_path / "sitecustomize.py").write_text(textwrap.dedent(HOOK.format(trigger=MOMENTS[moment])))
    proc = subprocess.run([*cmd, "run", "--print-config"], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert proc.returncode == 130, proc.stderr
    assert proc.stderr == "camerapose: interrupted\n" and proc.stdout == ""


def test_importing_the_command_module_leaves_sigint_alone() -> None:
    """A program (here pytest) that imports camerapose.cli keeps Python's own SIGINT handling."""
    import camerapose.cli as cli

    assert not cli._is_the_command()
    assert signal.getsignal(signal.SIGINT) is not cli._interrupted_early


@pytest.mark.slow
def test_view_exits_130_on_ctrl_c_like_every_command() -> None:
    pytest.importorskip("aiohttp")
    proc = subprocess.Popen([sys.executable, "-m", "camerapose", "view", "--http", "127.0.0.1:0",
                             "--endpoint", "tcp://127.0.0.1:9"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("camerapose view: http://"), line
        # a page served means the event loop runs, and so its signal handlers are in place
        with urllib.request.urlopen(line.split()[2], timeout=20) as page:
            assert page.status == 200
        proc.send_signal(signal.SIGINT)
        assert proc.wait(20) == 130
        assert "Traceback" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
