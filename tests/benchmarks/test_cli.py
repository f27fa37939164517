"""`camerapose bench`: suite dispatch, dropped options, the index of `--suite all`."""

from __future__ import annotations

from camerapose.benchmarks import cli as bench_cli
from camerapose.benchmarks.report import Report
from camerapose.cli import main
from camerapose.core.errors import CameraPoseError


def test_every_suite_of_all_has_a_module_with_run():
    import importlib
    import inspect

    for name in bench_cli.ALL:
        module = importlib.import_module(bench_cli.SUITES[name][0])
        params = inspect.signature(module.run).parameters
        assert {"quick", "out_dir"} <= set(params), name


def test_suite_all_writes_an_index_and_lists_skipped_suites(tmp_path, monkeypatch):
    calls = []

    def fake(name, quick, out_dir, **options):
        calls.append((name, quick, options))
        if name == "accuracy":
            raise CameraPoseError("needs torch")
        return Report(name, f"{name} suite")

    monkeypatch.setattr(bench_cli, "run_suite", fake)
    assert main(["bench", "--suite", "all", "--quick", "--out", str(tmp_path)]) == 0
    assert [c[0] for c in calls] == list(bench_cli.ALL) and all(c[1] for c in calls)
    index = (tmp_path / "index.md").read_text()
    assert "Machine: " in index and "[engines.md](engines.md)" in index
    assert "| accuracy | skipped: needs torch |" in index


def test_run_suite_drops_options_a_suite_does_not_take(monkeypatch):
    import types

    seen = {}

    def run(quick=False, out_dir=None, source=None):
        seen.update(quick=quick, source=source)
        return "report"

    monkeypatch.setattr(bench_cli.importlib, "import_module", lambda name: types.SimpleNamespace(run=run))
    assert bench_cli.run_suite("detector", True, None, source="v.mp4", backend="x", config=None) == "report"
    assert seen == {"quick": True, "source": "v.mp4"}


def test_a_missing_source_or_config_is_one_clear_error(tmp_path, capsys):
    assert main(["bench", "--suite", "detector", "--source", str(tmp_path / "no.mp4")]) == 2
    assert "no such video file" in capsys.readouterr().err
    assert main(["bench", "--suite", "accuracy", "--config", str(tmp_path / "no.toml")]) == 2
    assert "no such config file" in capsys.readouterr().err
