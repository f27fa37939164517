"""Each source kind on its own, without devices: cv2.VideoCapture is replaced by a fake, so the
choice of kind, the camera's size request, a URL's reconnection and a file's frame rate are
checked in milliseconds. Image folders use real image files."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from camerapose.core.errors import InputError
from camerapose.runtime.sources import open_source
from camerapose.runtime.sources.base import CaptureConfig, SourceSpec
from camerapose.runtime.sources.camera import CameraSource
from camerapose.runtime.sources.file import FileSource
from camerapose.runtime.sources.folder import FolderSource
from camerapose.runtime.sources.url import UrlSource


class FakeCapture:
    """Stands in for cv2.VideoCapture: `frames` 6x8 images (pixel value = frame number), then
    nothing; frames=-1 means it does not open. `props` answers get() and records set()."""

    def __init__(self, target: object, frames: int, props: dict[int, float]) -> None:
        self.target, self.left, self.props = target, frames, dict(props)
        self.given = 0
        self.released = False

    def isOpened(self) -> bool:
        return self.left >= 0

    def read(self) -> tuple[bool, np.ndarray | None]:
        if self.left <= 0:
            return False, None
        self.left -= 1
        self.given += 1
        return True, np.full((6, 8, 3), self.given - 1, np.uint8)

    def get(self, prop: int) -> float:
        return self.props.get(prop, 0.0)

    def set(self, prop: int, value: float) -> bool:
        self.props[prop] = value
        return True

    def release(self) -> None:
        self.released = True


@pytest.fixture
def fake_cv2(monkeypatch: pytest.MonkeyPatch):
    """fake_cv2(frames per opening..., props=...) -> the list of captures made, in order; an
    opening beyond the given counts does not open."""

    def install(*frames: int, props: dict[int, float] | None = None) -> list[FakeCapture]:
        made: list[FakeCapture] = []

        def make(target: object) -> FakeCapture:
            n = frames[len(made)] if len(made) < len(frames) else -1
            made.append(FakeCapture(target, n, props or {}))
            return made[-1]

        monkeypatch.setattr(cv2, "VideoCapture", make)
        return made

    return install


def write_images(folder: Path, names_values: dict[str, int], size=(8, 6)) -> None:
    for name, value in names_values.items():
        cv2.imwrite(str(folder / name), np.full((size[1], size[0], 3), value, np.uint8))


@pytest.mark.parametrize(
    ("uri", "kind", "cls"),
    [
        ("0", "webcam", CameraSource),
        ("12", "webcam", CameraSource),
        ("rtsp://cam.local/live", "url", UrlSource),
        ("HTTP://cam.local/video.mjpg", "url", UrlSource),
        ("{tmp}/clip.mp4", "file", FileSource),
        ("{tmp}/frames", "folder", FolderSource),
    ],
)
def test_open_source_picks_the_class_of_the_uri_kind(fake_cv2, tmp_path: Path, uri, kind, cls) -> None:
    fake_cv2(3)
    (tmp_path / "clip.mp4").write_bytes(b"read by the fake capture, not by OpenCV")
    (tmp_path / "frames").mkdir()
    write_images(tmp_path / "frames", {"0.png": 0})
    spec = SourceSpec(uri.format(tmp=tmp_path))
    assert spec.kind == kind
    with open_source(spec, CaptureConfig(mode="offline")) as src:
        assert type(src) is cls
        assert src.read().index == 0


def test_files_and_folders_are_paced_devices_and_streams_are_not() -> None:
    assert FileSource.paced and FolderSource.paced
    assert not CameraSource.paced and not UrlSource.paced


def test_camera_opens_by_index_and_requests_the_configured_size(fake_cv2) -> None:
    made = fake_cv2(1, 1)
    open_source(SourceSpec("2"), CaptureConfig(width=1280, height=720)).close()
    open_source(SourceSpec("2"), CaptureConfig()).close()
    assert made[0].target == 2  # an int index, not the string "2"
    assert made[0].props == {cv2.CAP_PROP_FRAME_WIDTH: 1280, cv2.CAP_PROP_FRAME_HEIGHT: 720}
    assert made[1].props == {}  # 0 x 0: the camera's own default
    assert made[0].released and made[1].released


def test_camera_that_opens_but_gives_nothing_is_an_input_error(fake_cv2) -> None:
    made = fake_cv2(0)
    with pytest.raises(InputError, match="the camera gives no frames"):
        open_source(SourceSpec("0"), CaptureConfig())
    assert made[0].released


def test_url_reconnects_when_the_stream_drops_and_numbering_goes_on(fake_cv2) -> None:
    made = fake_cv2(2, 2)  # two frames, the stream drops, two more after reconnecting, then dead
    cfg = CaptureConfig(mode="offline", retries=0, backoff_s=0.0)
    with open_source(SourceSpec("rtsp://cam.local/live"), cfg) as src:
        frames = [src.read() for _ in range(4)]
        with pytest.raises(InputError, match="cannot connect after 1 attempts"):
            src.read()
    assert [f.index for f in frames] == [0, 1, 2, 3]
    assert [int(f.image[0, 0, 0]) for f in frames] == [0, 1, 0, 1]  # the second connection's own frames
    assert made[0].released and len(made) == 3


@pytest.mark.parametrize(("header_fps", "fps"), [(25.0, 25.0), (0.0, 30.0), (1000.0, 30.0)])
def test_file_runs_at_its_header_rate_when_plausible(fake_cv2, tmp_path: Path, header_fps, fps) -> None:
    fake_cv2(1, props={cv2.CAP_PROP_FPS: header_fps})
    (tmp_path / "a.mp4").write_bytes(b"x")
    with open_source(SourceSpec(str(tmp_path / "a.mp4")), CaptureConfig(fps=30.0)) as src:
        assert src.fps == fps


def test_file_that_gives_no_frames_is_an_input_error(fake_cv2, tmp_path: Path) -> None:
    fake_cv2(0)
    (tmp_path / "a.mp4").write_bytes(b"x")
    with pytest.raises(InputError, match="the video gives no frames"):
        open_source(SourceSpec(str(tmp_path / "a.mp4")), CaptureConfig())


def test_folder_reads_images_in_name_order_and_counts_the_corrupt_ones(tmp_path: Path) -> None:
    write_images(tmp_path, {"b.png": 30, "9.png": 20, "10.png": 10})
    write_images(tmp_path, {"c.bmp": 40}, size=(16, 12))  # another size than the first image
    (tmp_path / "a.PNG").write_bytes(b"\x89PNG not really")
    (tmp_path / "notes.txt").write_text("not an image: not read, not counted")
    with open_source(SourceSpec(str(tmp_path)), CaptureConfig(mode="offline")) as src:
        frames = []
        while (f := src.read()) is not None:
            frames.append(f)
        assert src.corrupt == 2
        assert src.size == (8, 6)
    # name order: 10.png, 9.png, a.PNG (corrupt), b.png, c.bmp (wrong size)
    assert [int(f.image[0, 0, 0]) for f in frames] == [10, 20, 30]
    assert [f.index for f in frames] == [0, 1, 3]  # a skipped image leaves a gap in the numbering


def test_folder_resumes_at_an_index_wrapping_with_loop(tmp_path: Path) -> None:
    write_images(tmp_path, {"0.png": 0, "1.png": 1, "2.png": 2})
    with open_source(SourceSpec(str(tmp_path)), CaptureConfig(mode="offline", loop=True)) as src:
        src.resume_at(7)
        got = [src.read() for _ in range(3)]
    assert [f.index for f in got] == [7, 8, 9]
    assert [int(f.image[0, 0, 0]) for f in got] == [1, 2, 0]


def test_folder_without_images_is_an_input_error(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("no images here")
    with pytest.raises(InputError, match="no image files"):
        open_source(SourceSpec(str(tmp_path)), CaptureConfig())
