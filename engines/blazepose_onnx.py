"""BlazePose's two .tflite models as ONNX, for onnxruntime and TensorRT (`camerapose assets fetch --onnx`).

MediaPipe publishes the models as .tflite only. Here they are converted in a throwaway environment
in the asset cache (`envs/tf2onnx`: tensorflow-cpu + tf2onnx, ~1.6 GB; tensorflow never enters the
product's environment) by `tflite_to_onnx.py`, then checked before they enter the cache:

- inputs: real frames of the demo video, three square views per frame (left, centre, right),
  scaled to each network's input and value range, all in ONE onnxruntime call (which checks the
  batch patch too);
- the check: for every output, |ONNX - LiteRT| at most 4x LiteRT's own kernel-to-kernel difference
  (its XNNPACK kernels against TFLite's reference kernels on the same inputs), plus 1e-6 of the
  output's range. A conversion that broke a layer differs by orders of magnitude more.

The result, with the converter's versions and the check's figures, goes into the cache's manifest
(`format: converted`). Conversion is not byte-reproducible (tf2onnx names constants per run), so
the ONNX files are identified by that check, not by a pinned sha256.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from camerapose.assets import (
    ASSETS,
    asset_path,
    cache_dir,
    read_manifest,
    record_converted,
    sha256_of,
    side_env,
)
from camerapose.core.errors import AssetError

from .litert_runner import LiteRTRunner
from .runner import OnnxRuntimeRunner

log = logging.getLogger(__name__)

# What the conversion environment holds (tested together: tf2onnx 1.17 on tensorflow 2.21).
CONVERTER = ("tensorflow-cpu==2.21.0", "tf2onnx==1.17.0", "onnx==1.23.2", "protobuf==7.36.2")
SCRIPT = Path(__file__).with_name("tflite_to_onnx.py")
CHECK_FRAMES = 12
KERNEL_FACTOR = 4.0
RANGE_FLOOR = 1e-6


@dataclass(frozen=True)
class NetworkSpec:
    """One network to convert: its .tflite asset, input side and value range (x * scale + offset)."""

    stem: str
    size: int
    scale: float
    offset: float


NETWORKS = (NetworkSpec("pose_detection", 224, 2.0 / 255.0, -1.0),
            NetworkSpec("pose_landmark_full", 256, 1.0 / 255.0, 0.0))


def convert(cache: str | os.PathLike[str] | None = None, force: bool = False) -> list[Path]:
    """Convert and check both networks into the cache (those already there and checked against
    the same .tflite are kept unless `force`). -> the ONNX paths. AssetError if a check fails."""
    root = cache_dir(cache)
    frames: list[np.ndarray] = []  # decoded when a network needs converting, once
    done = []
    for net in NETWORKS:
        tflite = asset_path(f"{net.stem}.tflite", cache)
        target = root / f"{net.stem}.onnx"
        if not force and is_converted(root, target.name, tflite):
            log.info("%s: present, converted from this %s and checked", target.name, tflite.name)
            done.append(target)
            continue
        python = side_env("tf2onnx", CONVERTER, cache)
        frames = frames or check_frames(asset_path("demo.mp4", cache))
        part = target.with_name(f".{target.name}.part")
        try:
            summary = run_converter(python, tflite, part)
            check = check_conversion(tflite, part, net, frames)
            if not check["passed"]:
                worst = max(check["outputs"].items(), key=lambda kv: kv[1]["diff"] / kv[1]["tolerance"])
                raise AssetError(f"{target.name}: the converted model disagrees with LiteRT (output "
                                 f"{worst[0]}: {worst[1]['diff']:.3g} > {worst[1]['tolerance']:.3g}); "
                                 "nothing was written")
            os.replace(part, target)
        finally:
            part.unlink(missing_ok=True)
        record_converted(root, target.name, manifest_entry(tflite, target, summary, check))
        log.info("%s: converted and checked (largest difference %.2g of its tolerance)", target.name,
                 max(o["diff"] / o["tolerance"] for o in check["outputs"].values()))
        done.append(target)
    return done


def is_converted(root: Path, name: str, tflite: Path) -> bool:
    """True when `name` is in the cache, recorded as converted from this very .tflite and checked."""
    entry = read_manifest(root).get(name, {})
    path = root / name
    return (path.is_file() and entry.get("check", {}).get("passed") is True
            and entry.get("source_sha256") == sha256_of(tflite) and entry.get("sha256") == sha256_of(path))


def run_converter(python: Path, tflite: Path, out: Path) -> dict:
    """`tflite_to_onnx.py` in the conversion environment (isolated mode: the script's folder, which
    holds a `select.py`, must not shadow the standard library). -> its JSON summary."""
    proc = subprocess.run([str(python), "-I", str(SCRIPT), str(tflite), str(out)], capture_output=True,
                          text=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        lines_err = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        tail = lines_err[-1:] or [f"exit {proc.returncode}"]
        raise AssetError(f"converting {tflite.name} to ONNX failed: {tail[0]}")
    return json.loads(lines[-1])


def check_frames(video: Path, count: int = CHECK_FRAMES) -> list[np.ndarray]:
    """`count` BGR frames evenly spread over `video`."""
    cap = cv2.VideoCapture(str(video))
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    wanted = set(np.linspace(0, max(total - 1, 0), count).astype(int).tolist())
    frames = []
    for i in range(total):
        ok, frame = cap.read()
        if not ok:
            break
        if i in wanted:
            frames.append(frame)
    cap.release()
    if len(frames) < count:
        raise AssetError(f"{video}: could read only {len(frames)} of the {count} frames the ONNX check needs")
    return frames


def network_inputs(frames: list[np.ndarray], net: NetworkSpec) -> np.ndarray:
    """Three square views (left, centre, right) of each frame -> (3 * F, size, size, 3) float32 RGB."""
    views = []
    for f in frames:
        h, w = f.shape[:2]
        side = min(h, w)
        for x0, y0 in dict.fromkeys([(0, 0), ((w - side) // 2, (h - side) // 2), (w - side, h - side)]):
            crop = cv2.resize(f[y0:y0 + side, x0:x0 + side], (net.size, net.size),
                              interpolation=cv2.INTER_AREA)
            views.append(cv2.cvtColor(crop, cv2.COLOR_BGR2RGB))
    return np.stack(views).astype(np.float32) * np.float32(net.scale) + np.float32(net.offset)


def check_conversion(tflite: Path, onnx: Path, net: NetworkSpec, frames: list[np.ndarray]) -> dict:
    """Compare the ONNX with LiteRT on real frames. -> {"inputs", "outputs": {name: {"diff",
    "kernel_diff", "tolerance"}}, "passed"}."""
    x = network_inputs(frames, net)
    fast = _run_each(LiteRTRunner(tflite, threads=2, max_batch=1), x)
    reference = _run_each(LiteRTRunner(tflite, threads=2, max_batch=1, reference_kernels=True), x)
    with OnnxRuntimeRunner(onnx) as ort_runner:
        [name] = ort_runner.inputs
        got = ort_runner.infer({name: x})
    outputs = {}
    for key, want in fast.items():
        if key not in got or got[key].shape != want.shape:
            raise AssetError(f"{onnx.name}: output {key} is missing or has shape "
                             f"{got[key].shape if key in got else None}, LiteRT gives {want.shape}")
        kernel = float(np.abs(want - reference[key]).max())
        tol = KERNEL_FACTOR * kernel + RANGE_FLOOR * float(np.ptp(want))
        outputs[key] = {"diff": float(np.abs(got[key] - want).max()), "kernel_diff": kernel, "tolerance": tol}
    passed = all(o["diff"] <= o["tolerance"] for o in outputs.values())
    return {"inputs": len(x), "frames": len(frames), "outputs": outputs, "passed": passed}


def _run_each(runner: LiteRTRunner, x: np.ndarray) -> dict[str, np.ndarray]:
    """One input per call (the detector's .tflite cannot batch) -> {output: (N, ...)}."""
    with runner:
        [name] = runner.inputs
        outs = [runner.infer({name: x[i:i + 1]}) for i in range(len(x))]
    return {k: np.concatenate([o[k] for o in outs]) for k in outs[0]}


def manifest_entry(tflite: Path, onnx: Path, summary: dict, check: dict) -> dict:
    source = ASSETS[tflite.name]
    return {
        "description": f"{source.description}, as ONNX with a dynamic batch (for onnxruntime / TensorRT)",
        "license": source.license,
        "bundle": "onnx",
        "source": tflite.name,
        "source_sha256": sha256_of(tflite),
        "package": source.package.requirement,
        "converter": " + ".join(CONVERTER) + "; densify pass, batch patch (engines/tflite_to_onnx.py)",
        "conversion": summary,
        "check": check,
        "sha256": sha256_of(onnx),
        "size": onnx.stat().st_size,
    }
