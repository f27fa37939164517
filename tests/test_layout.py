"""The package layout (docs/architecture.md): one namespace, import rules, no circles, no torch
in the runtime."""

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
FOLDERS = {"core": "camerapose.core", "models": "camerapose.models", "train": "camerapose.train",
           "engines": "camerapose.engines", "runtime": "camerapose.runtime",
           "benchmarks": "camerapose.benchmarks", "camerapose": "camerapose"}
# What each subpackage may not import of the others (docs/architecture.md, "Import rules").
FORBIDDEN = {
    "core": ("camerapose.models", "camerapose.train", "camerapose.engines", "camerapose.runtime",
             "camerapose.benchmarks"),
    "models": ("camerapose.train", "camerapose.engines", "camerapose.runtime", "camerapose.benchmarks"),
    "engines": ("camerapose.runtime", "camerapose.train"),
    "runtime": ("camerapose.train", "camerapose.models"),  # models needs torch; the runtime must not
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


@pytest.mark.slow
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


def _module_graph() -> dict[str, set[str]]:
    """camerapose module -> the camerapose modules it imports (at any depth: a lazy import inside a
    function still ties the two modules together)."""
    files = {}
    for folder, pkg in FOLDERS.items():
        for py in (ROOT / folder).rglob("*.py"):
            parts = list(py.relative_to(ROOT / folder).with_suffix("").parts)
            is_pkg = parts[-1] == "__init__"
            files[".".join([pkg, *(parts[:-1] if is_pkg else parts)])] = (py, is_pkg)
    graph = {}
    for name, (py, is_pkg) in files.items():
        deps = set()
        for node in ast.walk(ast.parse(py.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: resolve against this module's package
                    pkg = name.split(".")[: None if is_pkg else -1]
                    pkg = pkg[: len(pkg) - node.level + 1]
                    base = ".".join([*pkg, *([node.module] if node.module else [])])
                # `from pkg import mod` needs mod (pkg is only its parent); `from mod import name`, mod
                subs = [f"{base}.{a.name}" for a in node.names]
                targets = [t for t in subs if t in files] or [base]
                targets += [base] if any(t not in files for t in subs) else []
            else:
                continue
            for t in targets:
                while t and t not in files:  # `from pkg import name`: name may be a module or not
                    t = t.rpartition(".")[0]
                if t and t != name:
                    deps.add(t)
        graph[name] = deps
    return graph


def test_no_module_imports_itself_through_others():
    graph = _module_graph()
    cycles = []
    for start in graph:  # depth-first from each module: does any path lead back to it?
        stack, seen = [(start, [start])], set()
        while stack:
            node, path = stack.pop()
            for nxt in graph[node]:
                if nxt == start:
                    cycles.append(" -> ".join([*path, start]))
                elif nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, [*path, nxt]))
    assert not cycles, "\n".join(sorted(set(cycles)))
