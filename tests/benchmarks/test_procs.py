"""benchmarks/procs.py: /proc readers the pipeline sampler and the supervisor tests share."""

import os
import subprocess
import sys

import pytest

from camerapose.benchmarks import procs

pytestmark = pytest.mark.skipif(not procs.has_proc(), reason="no /proc on this system")


def test_a_child_is_listed_with_its_argv_until_it_is_reaped_or_a_zombie():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert child.pid in procs.children(os.getpid())
        assert procs.cmdline(child.pid)[:2] == [sys.executable, "-c"]
        assert procs.alive(child.pid)
    finally:
        child.kill()
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # dead, not yet reaped: a zombie
    assert not procs.alive(child.pid) and child.pid not in procs.children(os.getpid())
    child.wait()
    assert procs.cmdline(child.pid) == [] and procs.cpu_rss(child.pid) is None


def test_cpu_time_and_rss_of_this_process_are_positive_and_cpu_grows():
    cpu0, rss = procs.cpu_rss(os.getpid())
    sum(i * i for i in range(3_000_000))  # ~0.2 s of CPU
    cpu1, _ = procs.cpu_rss(os.getpid())
    assert rss > 1.0 and cpu1 > cpu0
