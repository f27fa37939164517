"""`camerapose.estimate`: the pose messages of a video computed in the calling process, settings
read by the one config loader, and nothing left behind when the loop is left early."""

from __future__ import annotations

import os
import threading
from collections import Counter
from pathlib import Path

import pytest

import camerapose
from camerapose.benchmarks import procs
from camerapose.core.errors import InputError
from camerapose.runtime.inprocess import estimate_config


# -- settings (fast) --------------------------------------------------------------------------------
def test_settings_take_tables_and_dotted_keys_like_the_toml_file() -> None:
    cfg = estimate_config("left=clip.mp4", True, {"lift": {"smooth": False, "one_euro": {"beta": 2.0}},
                                                  "detector.max_persons": 2})
    assert cfg.sources[0].uri == "clip.mp4" and cfg.sources[0].name == "left"
    assert cfg.capture.mode == "offline"
    assert cfg.lift.smooth is False and cfg.lift.one_euro.beta == 2.0 and cfg.detector.max_persons == 2
    assert cfg.lift.one_euro.min_cutoff == 1.5  # untouched keys keep their defaults


def test_without_every_frame_the_mode_is_live_and_the_stream_is_named_0() -> None:
    cfg = estimate_config(Path("clip.mp4"), False, {})
    assert cfg.capture.mode == "live" and cfg.sources[0].name == "0"


@pytest.mark.parametrize(("settings", "match"), [
    ({"lift.smoth": False}, r"estimate\(lift\.smoth=\.\.\.\): unknown config key 'lift\.smoth'"),
    ({"lift": {"smooth": "yes"}}, r"'lift\.smooth' must be true or false"),
    ({"lift": 3}, r"'lift' must be a table"),
    ({"capture.fps": -1.0}, r"capture\.fps must be in"),
    ({"sources.uri": ["a.mp4"]}, r"give the source as the first argument"),
    ({"output.save": "poses.txt"}, r"the extension picks the format"),
])
def test_a_bad_setting_is_one_input_error_at_the_call(demo_video: Path, settings: dict, match: str) -> None:
    with pytest.raises(InputError, match=match) as err:
        camerapose.estimate(demo_video, **settings)
    assert "\n" not in str(err.value)


def test_a_missing_file_or_a_bad_source_is_an_input_error_at_the_call(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        camerapose.estimate(tmp_path / "missing.mp4")
    with pytest.raises(InputError, match="source must be"):
        camerapose.estimate(None)  # type: ignore[arg-type]


# -- real runs (slow) ---------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.assets
def test_every_frame_of_the_demo_comes_once_in_order_with_both_people(demo_video: Path) -> None:
    msgs = list(camerapose.estimate(demo_video, every_frame=True))
    assert [m["frame"] for m in msgs] == list(range(230))
    assert all(m["stream"] == "0" and m["schema"] == 1 for m in msgs)
    seen = Counter(p["id"] for m in msgs for p in m["persons"])
    assert len([i for i, n in seen.items() if n >= 100]) >= 2, seen  # two people, each in many frames
    p = msgs[100]["persons"][0]
    assert p["kp3d"].shape == (17, 3) and p["kp3d"].dtype.name == "float32"


def _segments() -> set[Path]:
    folder = Path(os.environ.get("CAMERAPOSE_SHM_DIR") or "/dev/shm")
    return set(folder.glob("camerapose-*")) if folder.is_dir() else set()


@pytest.mark.slow
@pytest.mark.assets
@pytest.mark.parametrize("every_frame", [True, False])
def test_leaving_the_loop_early_leaves_no_process_thread_or_segment(demo_video: Path,
                                                                    every_frame: bool) -> None:
    kids, segments = set(procs.children(os.getpid())), _segments()
    got = camerapose.estimate(demo_video, every_frame=every_frame)
    frame = -1
    for n, msg in enumerate(got, 1):
        frame = msg["frame"]
        assert not set(procs.children(os.getpid())) - kids  # no stage process, ever
        if n == 10:
            break
    got.close()  # what leaving a for loop does once the generator is no longer referenced
    assert frame >= 9
    assert not set(procs.children(os.getpid())) - kids
    assert not _segments() - segments
    assert not [t for t in threading.enumerate() if t.name.startswith("capture-")]  # LiveReader stopped


def test_estimate_runs_the_stages_functions_without_loading_zeromq() -> None:
    import subprocess
    import sys

    code = ("import sys, camerapose, camerapose.runtime.inprocess, camerapose.runtime.config; "
            "print('zmq' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"  # the per-frame functions live apart from the stage processes
