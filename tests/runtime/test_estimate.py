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
def test_every_frame_of_the_demo_comes_once_in_order_with_both_people_and_two_ids(demo_video: Path,
                                                                                  demo_ids_ok) -> None:
    msgs = list(camerapose.estimate(demo_video, every_frame=True))
    assert [m["frame"] for m in msgs] == list(range(230))
    assert all(m["stream"] == "0" and m["schema"] == 1 for m in msgs)
    seen = Counter(p["id"] for m in msgs for p in m["persons"])
    assert len([i for i, n in seen.items() if n >= 100]) >= 2, seen  # two people, each in many frames
    demo_ids_ok([[p["id"] for p in m["persons"]] for m in msgs])  # ... and no third id, the man's kept
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


# -- options estimate does not use, annotated video, results objects ---------------------------------
@pytest.mark.parametrize(("settings", "match"), [
    ({"bogus": 1}, r"estimate\(bogus=\.\.\.\): unknown config key 'bogus' \(known here: sources, capture"),
    ({"publish": {"endpoint": "tcp://127.0.0.1:5999"}},
     r"'publish\.endpoint' has no effect here .*estimate uses: capture\.\*, .*output\.annotate"),
    ({"output.show": True}, r"estimate\(output\.show=\.\.\.\): 'output\.show' has no effect here"),
    ({"supervisor": {"max_restarts": 1}}, r"'supervisor\.max_restarts' has no effect here"),
])
def test_an_option_estimate_does_not_use_is_an_input_error_naming_it(demo_video: Path, settings: dict,
                                                                     match: str) -> None:
    with pytest.raises(InputError, match=match) as err:
        camerapose.estimate(demo_video, **settings)
    assert "\n" not in str(err.value)


def test_the_options_estimate_uses_are_accepted(demo_video: Path, tmp_path: Path) -> None:
    camerapose.estimate(demo_video, publish={"teacher_3d": True}, capture={"loop": False},
                        output={"annotate": str(tmp_path / "a.mp4"), "view3d": False,
                                "save": str(tmp_path / "p.csv")}).close()


def test_an_annotated_video_in_a_missing_folder_is_an_input_error_at_the_call(demo_video: Path,
                                                                             tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        camerapose.estimate(demo_video, output={"annotate": str(tmp_path / "no" / "a.mp4")})


@pytest.mark.slow
@pytest.mark.assets
def test_output_annotate_writes_a_decodable_video_with_a_frame_per_message(demo_clip, tmp_path: Path) -> None:
    import cv2

    out = tmp_path / "annotated.mp4"
    msgs = list(camerapose.estimate(demo_clip(12, 2), every_frame=True, output={"annotate": str(out)}))
    assert len(msgs) == 12
    cap, frames = cv2.VideoCapture(str(out)), []
    while (got := cap.read())[0]:
        frames.append(got[1])
    assert len(frames) == 12
    assert abs(frames[0].shape[0] - 994 // 2) <= 1 and abs(frames[0].shape[1] - 1768 // 2) <= 1  # mp4v: even
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(30.0, rel=1e-3)


@pytest.mark.slow
@pytest.mark.assets
def test_results_are_still_the_message_dicts_with_attributes_tracks_plot_and_save(demo_clip,
                                                                                  tmp_path: Path) -> None:
    import json
    import pickle

    import numpy as np

    from camerapose.runtime.results import Person, Result, Results
    from camerapose.runtime.wire.schema import to_json

    clip = demo_clip(12, 2)
    results = camerapose.track(clip)
    assert isinstance(results, Results) and len(results) == 12 and isinstance(results[0], dict)
    r = next(r for r in results if r.persons)
    p = r.persons[0]
    assert isinstance(r, Result) and isinstance(p, Person) and r["persons"][0] is p
    assert p.kp3d is p["kp3d"] and p.kp3d.shape == (17, 3) and p.kp2d.shape == (17, 2)
    assert p.conf.shape == (17,) and p.camera["fx"] > 0 and p.id == p["id"] and r.frame == r["frame"]
    plain = r.to_dict()
    assert type(plain) is dict and type(plain["persons"][0]) is dict and plain == r
    json.dumps(to_json(r))
    assert type(pickle.loads(pickle.dumps(r))) is Result
    tracks = results.tracks()
    assert p.id in tracks
    t = tracks[p.id]
    seen = [m.frame for m in results if any(q.id == p.id for q in m.persons)]
    assert list(t.frames) == seen and t.kp3d.shape == (len(seen), 17, 3) and t.camera.shape == (len(seen), 4)
    np.testing.assert_allclose(t.kp3d[seen.index(r.frame)], p.kp3d, atol=1e-6)
    import cv2

    img = cv2.VideoCapture(str(clip)).read()[1]
    drawn = results[0].plot(img)
    assert drawn.shape == img.shape and not np.array_equal(drawn, img)
    with pytest.raises(InputError, match="HxWx3 uint8"):
        results[0].plot(img[..., 0])
    assert results.save(tmp_path / "all.csv") == [tmp_path / "all.csv"]
    rows = (tmp_path / "all.csv").read_text().splitlines()
    assert len(rows) == 1 + sum(len(m.persons) for m in results)
    bvhs = results.save(tmp_path / "run.bvh")
    assert sorted(bvhs) == sorted(tmp_path / f"run_0_id{i}.bvh" for i in tracks)
    assert all(b.read_text().startswith("HIERARCHY") for b in bvhs)
    with pytest.raises(InputError, match="cannot save as 'txt'"):
        results.save(tmp_path / "x.txt")


@pytest.mark.slow
@pytest.mark.assets
def test_the_results_example_of_docs_python_md_runs_as_written(demo_clip, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import re
    import shutil

    docs = (Path(__file__).parents[2] / "docs" / "python.md").read_text()
    section = docs[docs.index("\n## Results\n"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert len(code.strip().splitlines()) <= 12  # a short example
    shutil.copy(demo_clip(12, 2), tmp_path / "clip.mp4")
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "docs/python.md", "exec"), {})
    assert (tmp_path / "clip_annotated.mp4").stat().st_size > 0
    assert (tmp_path / "frame0.png").is_file() and list(tmp_path.glob("clip_0_id*.bvh"))
