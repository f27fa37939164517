"""Helpers for the benchmark tests: every suite runs in quick mode and only its report's structure
is checked (Markdown sections, JSON keys, PNGs written), never its timings."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def written() -> Callable[[Any, Path, tuple[str, ...]], tuple[str, dict]]:
    return check_written


@pytest.fixture
def stats_keys() -> Callable[[dict], bool]:
    return lambda st: {"n", "p50", "p95", "p99", "mean"} <= set(st)


def check_written(report: Any, out: Path, pngs: tuple[str, ...]) -> tuple[str, dict]:
    """Write `report` into `out`; check the .md, the .json and the PNGs exist. -> (markdown, json)."""
    md = report.write(out)
    assert md == out / f"{report.suite}.md"
    data = json.loads((out / f"{report.suite}.json").read_text())
    for name in pngs:
        assert (out / name).stat().st_size > 1000, name
        assert f"]({name})" in md.read_text()
    assert {"suite", "title", "machine"} <= set(data)
    assert {"cpu", "cores", "gpu", "cuda", "versions", "commit", "date"} <= set(data["machine"])
    text = md.read_text()
    assert text.startswith(f"# {report.title}") and "Machine: " in text
    return text, data
