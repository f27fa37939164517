"""What every source shares: the options (CaptureConfig), what to open (SourceSpec), what comes out
(Frame) and the interface each kind implements (Source).

    with open_source(SourceSpec("clip.mp4"), CaptureConfig(mode="offline")) as src:
        while (frame := src.read()) is not None:
            ...

Timestamps are `time.monotonic()` at the moment the frame was read, and the frame's time in the
source itself, `t_media` = index / fps (a file's own rate, or `fps` for folders and files without
one): offline runs clock every filter with it, so their results do not depend on how fast they
ran. A frame that cannot be decoded
(an image file that is not an image, a wrong-sized frame) is skipped and counted in `corrupt`. A user
error (missing file, absent camera, dead URL after retries) is an InputError.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from camerapose.core.config import check_ranges
from camerapose.core.errors import InputError

URL_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://")


@dataclass(frozen=True)
class CaptureConfig:
    """mode: "live" (newest frame wins) or "offline" (every frame); loop: restart files at the end;
    retries/backoff_s: reconnect attempts for URLs (delay doubles, capped at backoff_max_s);
    fps: pace for image folders (and files whose rate is unknown); ring_slots: frames in shared memory."""

    mode: str = "live"
    loop: bool = False
    retries: int = 5
    backoff_s: float = 0.5
    backoff_max_s: float = 4.0
    fps: float = 30.0
    ring_slots: int = 8
    width: int = 0  # webcam capture size request (0 = the camera's default)
    height: int = 0

    def __post_init__(self) -> None:
        if self.mode not in ("live", "offline"):
            raise InputError(f"capture.mode must be 'live' or 'offline', got {self.mode!r}")
        check_ranges("capture", self, retries=(0, 1000), backoff_s=(0, 3600), backoff_max_s=(0, 3600),
                     fps=(0.01, 1000), ring_slots=(2, 256), width=(0, 16384), height=(0, 16384))


@dataclass(frozen=True)
class SourceSpec:
    """One source: `uri` (webcam index, file, folder or URL) and the stream name it publishes as."""

    uri: str
    name: str = "0"

    def __post_init__(self) -> None:
        if not self.uri.strip():  # "" would read the current folder as an image folder
            raise InputError(f"stream {self.name}: empty source; give a webcam index, file, folder or URL")

    @property
    def kind(self) -> str:
        """One of "webcam" (a digit string), "url" (a known scheme), "folder" (a directory), "file"."""
        u = self.uri
        if u.isdigit():
            return "webcam"
        if u.lower().startswith(URL_SCHEMES):
            return "url"
        return "folder" if Path(u).is_dir() else "file"


@dataclass
class Frame:
    index: int  # 0, 1, 2... per stream (corrupt frames keep their index: gaps show what was skipped)
    image: np.ndarray  # HxWx3 uint8 BGR
    t_capture: float  # time.monotonic() when read
    t_wall: float  # time.time() at the same moment (for subscribers on other hosts)
    read_ms: float  # time spent reading + decoding
    t_media: float = 0.0  # index / the source's fps: the frame's time in the source itself


class Source(ABC):
    """One opened source. `read()` gives frames in order; `corrupt` counts the skipped ones.

    `paced` is True for sources that run as fast as they are read (files, folders): live mode then
    reads them at `fps`, so that they behave like a camera. `size` is (width, height) once known.
    `seekable` sources (files, folders) can read a frame again by its index (`resume_at`)."""

    paced = False
    seekable = False

    def __init__(self, spec: SourceSpec, cfg: CaptureConfig) -> None:
        self.spec, self.cfg = spec, cfg
        self.corrupt = 0
        self.fps = cfg.fps
        self.size: tuple[int, int] | None = None

    @abstractmethod
    def read(self) -> Frame | None:
        """The next frame; None at the end. Corrupt frames are skipped, not returned."""

    @abstractmethod
    def resume_at(self, index: int) -> None:
        """Continue numbering (and, for files and folders, reading) at frame `index`: a restarted
        capture stage goes on where its previous life stopped instead of starting over."""

    @abstractmethod
    def close(self) -> None:
        """Release the device, file or stream."""

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
