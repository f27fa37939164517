"""The package layout (README, "What is inside"): one namespace, import rules, a torch-free runtime."""

import ast
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"core": "camerapose.core", "train": "camerapose.train", "engines": "camerapose.engines",
           "runtime": "camerapose.runtime", "benchmarks": "camerapose.benchmarks",
           "camerapose": "camerapose"}
# What each subpackage may import of the others (README, "What is inside").
FORBIDDEN = {
    "core": ("camerapose.train", "camerapose.engines", "camerapose.runtime", "camerapose.benchmarks"),
    "engines": ("camerapose.runtime",),
    "runtime": ("camerapose.train",),
    "train": ("camerapose.runtime",),
}


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("folder", list(FORBIDDEN))
def test_subpackages_respect_the_import_rules(folder):
    offenders = [
        f"{py.relative_to(ROOT)} imports {name}"
        for py in (ROOT / folder).rglob("*.py")
        for name in _imports(py)
        if name.startswith(FORBIDDEN[folder])
    ]
    assert not offenders, offenders


def test_the_wheel_installs_only_the_camerapose_namespace(tmp_path):
    """A non-editable install must not put `runtime`, `train`, `core`... into site-packages."""
    src = tmp_path / "src"  # build from a copy: an in-tree build leaves build/ and *.egg-info behind
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".venv", ".git", "build", "out", "*.egg-info", "__pycache__", ".hypothesis", "*.mp4"))
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
         "-w", str(tmp_path), str(src)], capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stderr
    [wheel] = tmp_path.glob("camerapose-*.whl")
    tops = {name.split("/")[0] for name in zipfile.ZipFile(wheel).namelist()}
    assert tops == {"camerapose", wheel.name.split("-py3")[0] + ".dist-info"}, tops
    names = zipfile.ZipFile(wheel).namelist()
    assert "camerapose/core/skeleton.py" in names and "camerapose/runtime/__init__.py" in names


def test_pyproject_lists_every_package_folder():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    declared = set(config["packages"])
    found = {
        ".".join([FOLDERS[init.relative_to(ROOT).parts[0]], *init.relative_to(ROOT).parts[1:-1]])
        for folder in FOLDERS
        for init in (ROOT / folder).rglob("__init__.py")
    }
    assert found <= declared, f"add to pyproject packages: {sorted(found - declared)}"


def test_core_runtime_and_engines_import_without_torch():
    """The runtime installs without torch: every module of core, runtime and engines must import
    with torch unavailable (torch-only code imports it inside the functions that need it)."""
    script = """
import importlib, pkgutil, sys
sys.modules["torch"] = None  # any `import torch` now raises ImportError
import camerapose.cli
failed = []
for pkg in ("camerapose.core", "camerapose.runtime", "camerapose.engines", "camerapose.benchmarks"):
    mod = importlib.import_module(pkg)
    for info in pkgutil.walk_packages(mod.__path__, pkg + "."):
        try:
            importlib.import_module(info.name)
        except ImportError as err:
            failed.append(f"{info.name}: {err}")
print("\\n".join(failed))
sys.exit(1 if failed else 0)
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
