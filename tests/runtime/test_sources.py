"""Sources: files, folders, live newest-frame-wins reading, and every bad input as one InputError."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from camerapose.core.errors import InputError
from camerapose.runtime.sources import open_source
from camerapose.runtime.sources.base import CaptureConfig, SourceSpec
from camerapose.runtime.sources.live import LiveReader, Wait


def write_video(path: Path, n: int, fps: float = 30.0, size=(64, 48)) -> Path:
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    for i in range(n):
        img = np.zeros((size[1], size[0], 3), np.uint8)
        cv2.putText(img, str(i), (5, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 2)
        w.write(img)
    w.release()
    return path


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_video(tmp_path_factory.mktemp("src") / "clip.mp4", 40)


def read_all(src) -> list:
    out = []
    while (f := src.read()) is not None:
        out.append(f)
    return out


def test_offline_file_gives_every_frame_in_order_with_monotonic_times(clip: Path) -> None:
    with open_source(SourceSpec(str(clip)), CaptureConfig(mode="offline")) as src:
        frames = read_all(src)
        assert src.fps == pytest.approx(30.0)
    assert [f.index for f in frames] == list(range(40))
    assert all(b.t_capture >= a.t_capture for a, b in itertools.pairwise(frames))
    assert frames[0].image.shape == (48, 64, 3) and frames[0].image.dtype == np.uint8


def test_loop_restarts_the_file(clip: Path) -> None:
    with open_source(SourceSpec(str(clip)), CaptureConfig(mode="offline", loop=True)) as src:
        idx = [src.read().index for _ in range(90)]
    assert idx == list(range(90))  # indices keep counting across loops


@pytest.mark.slow
def test_live_reader_keeps_only_the_newest_frame_and_counts_the_rest(clip: Path) -> None:
    src = open_source(SourceSpec(str(clip)), CaptureConfig(mode="live"))
    live = LiveReader(src)
    got = []
    try:
        while (f := live.get(1.0)) is not Wait.ENDED:
            assert f is not Wait.TIMEOUT  # a 30 fps file never leaves the reader waiting 1 s
            got.append(f.index)
            time.sleep(0.1)  # a consumer slower than the 30 fps source
    finally:
        live.close()
        src.close()
    assert got == sorted(got) and len(set(got)) == len(got)
    assert live.dropped > 0 and live.dropped + len(got) == 40  # every frame either taken or counted
    assert got[-1] == 39  # the newest frame is what the consumer gets, never a queued stale one


def test_image_folder_skips_and_counts_corrupt_images(tmp_path: Path) -> None:
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"{i:03d}.png"), np.full((20, 30, 3), i * 50, np.uint8))
    (tmp_path / "001b.png").write_bytes(b"\x89PNG not really")
    with open_source(SourceSpec(str(tmp_path)), CaptureConfig(mode="offline")) as src:
        frames = read_all(src)
        assert src.corrupt == 1
    assert [int(f.image[0, 0, 0]) for f in frames] == [0, 50, 100]


def test_image_folder_in_which_no_image_decodes_is_an_input_error(tmp_path: Path) -> None:
    for name in ("a.jpg", "b.png", "c.PNG"):
        (tmp_path / name).write_bytes(b"not an image at all")
    with pytest.raises(InputError, match=rf"^{tmp_path}: none of its 3 image files decodes$"):
        open_source(SourceSpec(str(tmp_path)), CaptureConfig(mode="offline"))


def test_image_folder_takes_its_frame_size_from_the_first_image_that_decodes(tmp_path: Path) -> None:
    (tmp_path / "000.png").write_bytes(b"broken")
    cv2.imwrite(str(tmp_path / "001.png"), np.zeros((20, 30, 3), np.uint8))
    cv2.imwrite(str(tmp_path / "002.png"), np.zeros((40, 30, 3), np.uint8))  # another size: skipped
    with open_source(SourceSpec(str(tmp_path)), CaptureConfig(mode="offline")) as src:
        assert src.size == (30, 20)  # known on opening, before any read
        frames = read_all(src)
        assert src.corrupt == 2
    assert [f.index for f in frames] == [1]


def test_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        open_source(SourceSpec(str(tmp_path / "none.mp4")), CaptureConfig())


def test_unreadable_video_is_an_input_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"this is not a video" * 100)
    with pytest.raises(InputError, match=r"not a readable video|gives no frames"):
        open_source(SourceSpec(str(bad)), CaptureConfig())


def test_truncated_video_is_an_error_or_ends_early_cleanly(clip: Path, tmp_path: Path) -> None:
    data = clip.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 3])
    try:
        with open_source(SourceSpec(str(cut)), CaptureConfig(mode="offline")) as src:
            frames = read_all(src)
    except InputError as err:
        assert "cut.mp4" in str(err)
    else:
        assert len(frames) < 40


def test_absent_camera_is_an_input_error() -> None:
    with pytest.raises(InputError, match="no such camera"):
        open_source(SourceSpec("57"), CaptureConfig())


def test_dead_url_retries_with_backoff_then_fails(caplog: pytest.LogCaptureFixture) -> None:
    cfg = CaptureConfig(retries=2, backoff_s=0.05, backoff_max_s=0.08)
    with pytest.raises(InputError, match="after 3 attempts"):
        open_source(SourceSpec("rtsp://127.0.0.1:9/none"), cfg)
    assert sum("retrying" in r.message for r in caplog.records) == 2
