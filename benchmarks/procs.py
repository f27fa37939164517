"""Linux /proc, read in one place: a process's children, command line, state, CPU time and RSS.
Used by the pipeline suite's sampler and by the supervisor tests (stages are child processes).
Every reader returns an empty/None answer once the process is gone, never raises."""

from __future__ import annotations

import os
import re
from pathlib import Path

PROC = Path("/proc")


def has_proc() -> bool:
    return (PROC / "self" / "stat").is_file()


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/PID/stat after "pid (comm)" (comm may hold spaces and parentheses): field 3 (state)
    is item 0, ppid item 1, utime item 11, stime item 12."""
    try:
        return (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] != "Z"


def children(pid: int) -> list[int]:
    """Live (non-zombie) child pids: from /proc/PID/task/*/children where the kernel has it, else by
    scanning every process's ppid."""
    try:
        kids = [int(k) for task in (PROC / str(pid) / "task").iterdir()
                for k in (task / "children").read_text().split()]
    except OSError:
        kids = [int(d.name) for d in PROC.iterdir()
                if d.name.isdigit() and (f := _stat_fields(int(d.name))) and f[1] == str(pid)]
    return [k for k in kids if alive(k)]


def cmdline(pid: int) -> list[str]:
    """argv of the process ([] once it is gone)."""
    try:
        return (PROC / str(pid) / "cmdline").read_text().split("\0")
    except OSError:
        return []


def cpu_rss(pid: int) -> tuple[float, float] | None:
    """(CPU seconds used so far, user + system; RSS MB) of one process, None once it is gone."""
    fields = _stat_fields(pid)
    try:
        status = (PROC / str(pid) / "status").read_text()
    except OSError:
        return None
    if fields is None:
        return None
    rss = re.search(r"VmRSS:\s+(\d+) kB", status)
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return cpu, (int(rss.group(1)) / 1024 if rss else 0.0)
