"""The TensorRT engine cache: a serialized engine is reused only on the exact machine and build it
was made for.

Key = ONNX sha256 + TensorRT version + GPU name + compute capability + precision (+ calibration
hash for INT8) + batch profile. Each entry is `<digest>.engine` plus `<digest>.json` holding the
key fields and the engine's own sha256, so a hit needs the sidecar to name the same key AND the
engine bytes to hash to what was stored: a foreign, stale, truncated or hand-copied engine is a
miss (rebuilt), never a deserialisation crash. Writes are atomic (temp file + rename).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from camerapose.core.errors import InputError

log = logging.getLogger(__name__)

PRECISIONS = ("fp32", "fp16", "int8")


@dataclass(frozen=True)
class BatchProfile:
    """The TensorRT optimisation profile over the batch axis: min <= opt <= max."""

    min: int = 1
    opt: int = 64
    max: int = 4096

    def __post_init__(self) -> None:
        if not 1 <= self.min <= self.opt <= self.max:
            raise InputError("batch profile needs 1 <= min <= opt <= max, "
                             f"got {self.min}/{self.opt}/{self.max}")

    def shapes(self, tail: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        """(min, opt, max) full shapes for an input whose non-batch dims are `tail`."""
        return (self.min, *tail), (self.opt, *tail), (self.max, *tail)


@dataclass(frozen=True)
class EngineKey:
    """Everything a serialized engine depends on."""

    onnx_sha256: str
    tensorrt_version: str
    gpu_name: str
    compute_capability: str  # e.g. "9.0"
    precision: str  # fp32 | fp16 | int8
    profile: BatchProfile
    calibration_sha256: str = ""  # INT8 only: hash of the calibration cache/data

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise InputError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    def digest(self) -> str:
        """sha256 over the canonical JSON of the key; the cache file name."""
        blob = json.dumps(self.as_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()


class EngineCache:
    """A directory of engines keyed by EngineKey.digest()."""

    def __init__(self, root: str | Path | None = None) -> None:
        if root is None:
            from camerapose.assets import cache_dir

            root = cache_dir() / "engines"
        self.root = Path(root)

    def paths(self, key: EngineKey) -> tuple[Path, Path]:
        d = key.digest()[:32]
        return self.root / f"{d}.engine", self.root / f"{d}.json"

    def load(self, key: EngineKey) -> bytes | None:
        """The cached engine bytes for `key`, or None (missing, foreign, stale or corrupt: rebuild)."""
        engine, sidecar = self.paths(key)
        if not engine.is_file() or not sidecar.is_file():
            return None
        try:
            meta = json.loads(sidecar.read_text())
        except (OSError, json.JSONDecodeError):
            log.warning("engine cache: unreadable sidecar %s; rebuilding", sidecar)
            return None
        if meta.get("key") != json.loads(json.dumps(key.as_dict())):
            log.warning("engine cache: %s was built for another key; rebuilding", engine.name)
            return None
        data = engine.read_bytes()
        if hashlib.sha256(data).hexdigest() != meta.get("engine_sha256"):
            log.warning("engine cache: %s is corrupt (checksum mismatch); rebuilding", engine.name)
            return None
        return data

    def store(self, key: EngineKey, data: bytes) -> Path:
        """Write the engine and its sidecar atomically; returns the engine path."""
        engine, sidecar = self.paths(key)
        self.root.mkdir(parents=True, exist_ok=True)
        meta = {"key": key.as_dict(), "engine_sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
        _atomic_write(engine, data)
        _atomic_write(sidecar, json.dumps(meta, indent=2, sort_keys=True).encode())
        return engine

    def evict(self, key: EngineKey) -> None:
        for p in self.paths(key):
            p.unlink(missing_ok=True)


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
