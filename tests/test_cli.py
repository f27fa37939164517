"""The `camerapose` command: help, version, and one-line errors."""

import json
import re
import subprocess
import sys

import pytest

import camerapose
from camerapose.cli import REGISTRY, main


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "camerapose", *args], capture_output=True, text=True)


def test_version_prints_the_package_version():
    proc = _run("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"camerapose {camerapose.__version__}"


def test_help_lists_every_registered_command():
    proc = _run("--help")
    assert proc.returncode == 0
    for name in REGISTRY:
        assert f"\n  {name} " in proc.stdout


def test_no_arguments_prints_help_and_succeeds(capsys):
    assert main([]) == 0
    assert "commands:" in capsys.readouterr().out


def test_an_unknown_command_is_rejected_with_the_choices():
    proc = _run("frobnicate")
    assert proc.returncode == 2 and "invalid choice: 'frobnicate'" in proc.stderr


@pytest.mark.slow
@pytest.mark.parametrize("name", list(REGISTRY))
def test_every_registered_command_explains_itself(name):
    proc = _run(name, "--help")
    assert proc.returncode == 0, proc.stderr
    assert f"usage: camerapose {name}" in proc.stdout


@pytest.mark.assets
def test_a_reader_that_stops_early_ends_the_command_quietly(demo_video):
    """`camerapose detect VIDEO --json | head -1`: no traceback, exit 0."""
    proc = subprocess.Popen([sys.executable, "-m", "camerapose", "detect", str(demo_video), "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().startswith('{"frame": 0')
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 0
    assert "Traceback" not in err and "BrokenPipe" not in err


@pytest.mark.parametrize("command", ["run", "train"])
def test_an_unknown_set_key_is_one_line_exit_2_in_every_command(command, capsys):
    """run and train share one loader: the same wording, only the known keys differ."""
    assert main([command, "--set", "lift.smoth=false"]) == 2
    err = capsys.readouterr().err
    assert re.fullmatch(rf"camerapose {command}: error: --set lift\.smoth=false: unknown config key "
                        r"'lift(\.smoth)?' \(known here: [\w, ]+\)\n", err), err


def test_run_print_config_shows_a_set_value(capsys):
    assert main(["run", "--print-config", "--set", "lift.smooth=false", "--max-persons", "2"]) == 0
    cfg = json.loads(capsys.readouterr().out)
    assert cfg["lift"]["smooth"] is False and cfg["detector"]["max_persons"] == 2
    assert cfg["lift"]["one_euro"]["min_cutoff"] == 1.5  # untouched keys keep their defaults


def test_a_bad_flag_value_is_one_line_and_exit_2(capsys):
    with pytest.raises(SystemExit) as done:
        main(["run", "--hwm", "many"])
    assert done.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--hwm: invalid int value: 'many'" in err[0] and "--help" in err[0]


def test_run_takes_positional_sources_and_source_flags_together(capsys):
    assert main(["run", "a.mp4", "b.mp4", "--source", "left=c.mp4", "--print-config"]) == 0
    sources = json.loads(capsys.readouterr().out)["sources"]
    assert sources == [{"uri": "a.mp4", "name": "0"}, {"uri": "b.mp4", "name": "1"},
                       {"uri": "c.mp4", "name": "left"}]


def test_run_help_documents_the_positional_source(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    assert "SOURCE" in capsys.readouterr().out
