"""Frame sources: webcam index, video file, RTSP/HTTP URL, image folder; live or offline.

    with open_source(SourceSpec("clip.mp4"), CaptureConfig(mode="live")) as src:
        for frame in src:            # Frame(index, image, t_capture, t_wall, read_ms) or None (corrupt)
            ...

- live: a reader thread keeps only the NEWEST frame (one slot); `next()` returns it, and every
  frame the thread overwrote before anyone took it is counted in `dropped`. Files are paced at
  their frame rate so a file behaves like a camera.
- offline (`--every-frame`): frames are read on demand, none dropped, as fast as asked.
Timestamps are `time.monotonic()` at the moment the frame was read. A frame that cannot be
decoded (an image file that is not an image, a wrong-sized frame) is skipped and counted in
`corrupt`. A user error (missing file, absent camera, dead URL after retries) is an InputError.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from camerapose.core.errors import InputError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
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
        if self.retries < 0 or self.backoff_s < 0 or self.fps <= 0 or self.ring_slots < 2:
            raise InputError("capture: need retries >= 0, backoff_s >= 0, fps > 0, ring_slots >= 2")


@dataclass(frozen=True)
class SourceSpec:
    """One source: `uri` (webcam index, file, folder or URL) and the stream name it publishes as."""

    uri: str
    name: str = "0"

    @property
    def kind(self) -> str:
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


class Source:
    """Base: iterate frames; `dropped` and `corrupt` count what was skipped."""

    def __init__(self, spec: SourceSpec, cfg: CaptureConfig) -> None:
        self.spec, self.cfg = spec, cfg
        self.dropped = 0
        self.corrupt = 0
        self.fps = cfg.fps
        self.size: tuple[int, int] | None = None  # (width, height) once known

    def read(self) -> Frame | None:
        """Next frame (offline order); None at the end. Corrupt frames are skipped, not returned."""
        raise NotImplementedError

    def resume_at(self, index: int) -> None:
        """Continue numbering (and, for files and folders, reading) at frame `index`: a restarted
        capture stage goes on where its previous life stopped instead of starting over."""
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class VideoSource(Source):
    """Webcam, video file or URL through OpenCV."""

    def __init__(self, spec: SourceSpec, cfg: CaptureConfig) -> None:
        super().__init__(spec, cfg)
        self.kind = spec.kind
        self._cap = self._open()
        self._index = 0
        self._first: np.ndarray | None = self._read_first()
        rate = self._cap.get(cv2.CAP_PROP_FPS)
        if self.kind == "file" and rate and 1 <= rate <= 240:
            self.fps = float(rate)
        self.frame_count = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0) if self.kind == "file" else 0

    def _open(self) -> cv2.VideoCapture:
        uri = self.spec.uri
        if self.kind == "webcam":
            cap = cv2.VideoCapture(int(uri))
            if not cap.isOpened():
                raise InputError(f"camera {uri}: no such camera (is it connected and free?)")
            if self.cfg.width and self.cfg.height:
                cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.cfg.width)
                cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.cfg.height)
            return cap
        if self.kind == "file":
            if not Path(uri).is_file():
                raise InputError(f"{uri}: no such file")
            cap = cv2.VideoCapture(uri)
            if not cap.isOpened():
                raise InputError(f"{uri}: not a readable video (unknown format or truncated)")
            return cap
        return self._open_url()

    def _open_url(self) -> cv2.VideoCapture:
        delay = self.cfg.backoff_s
        for attempt in range(self.cfg.retries + 1):
            cap = cv2.VideoCapture(self.spec.uri)
            if cap.isOpened():
                return cap
            cap.release()
            if attempt < self.cfg.retries:
                log.warning(
                    "%s: cannot connect (attempt %d of %d); retrying in %.1f s",
                    self.spec.uri,
                    attempt + 1,
                    self.cfg.retries + 1,
                    delay,
                )
                time.sleep(delay)
                delay = min(delay * 2, self.cfg.backoff_max_s)
        raise InputError(f"{self.spec.uri}: cannot connect after {self.cfg.retries + 1} attempts")

    def _read_first(self) -> np.ndarray:
        ok, img = self._cap.read()
        if not ok or img is None or img.size == 0:
            self._cap.release()
            what = "camera" if self.kind == "webcam" else "video"
            raise InputError(f"{self.spec.uri}: the {what} gives no frames (unreadable or truncated?)")
        self.size = (img.shape[1], img.shape[0])
        return img

    def _grab(self) -> np.ndarray | None:
        if self._first is not None:
            img, self._first = self._first, None
            return img
        ok, img = self._cap.read()
        if ok and img is not None:
            return img
        if self.kind == "url":  # a dropped stream: reconnect with backoff, else the error
            log.warning("%s: stream lost; reconnecting", self.spec.uri)
            self._cap.release()
            self._cap = self._open_url()
            ok, img = self._cap.read()
            return img if ok else None
        if self.kind == "file" and self.cfg.loop and self._index > 0:
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, img = self._cap.read()
            return img if ok else None
        return None

    def read(self) -> Frame | None:
        while True:
            start = time.perf_counter()
            img = self._grab()
            t = time.monotonic()
            if img is None:
                if self.kind == "file" and self.frame_count and self._index < self.frame_count - 1:
                    log.warning(
                        "%s: ended after %d of %d frames (truncated?)",
                        self.spec.uri,
                        self._index,
                        self.frame_count,
                    )
                return None
            index = self._index
            self._index += 1
            if (self.size is not None and (img.shape[1], img.shape[0]) != self.size) or img.ndim != 3:
                self.corrupt += 1
                log.warning(
                    "%s: frame %d has size %s, expected %s: skipped",
                    self.spec.uri,
                    index,
                    img.shape,
                    self.size,
                )
                continue
            return Frame(index, img, t, time.time(), (time.perf_counter() - start) * 1e3)

    def resume_at(self, index: int) -> None:
        if index <= 0:
            return
        if self.kind == "file":
            n = self.frame_count or index + 1
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, index % n if self.cfg.loop else min(index, n))
            self._first = None
        self._index = index

    def close(self) -> None:
        self._cap.release()


class FolderSource(Source):
    """Every image file of a folder, in name order; unreadable images are skipped and counted."""

    def __init__(self, spec: SourceSpec, cfg: CaptureConfig) -> None:
        super().__init__(spec, cfg)
        self.files = sorted(p for p in Path(spec.uri).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.files:
            raise InputError(f"{spec.uri}: no image files ({', '.join(IMAGE_SUFFIXES)})")
        self._pos = 0
        self._index = 0

    def resume_at(self, index: int) -> None:
        self._index = index
        self._pos = index % len(self.files) if self.cfg.loop else min(index, len(self.files))

    def read(self) -> Frame | None:
        while True:
            if self._pos >= len(self.files):
                if not self.cfg.loop:
                    return None
                self._pos = 0
            path = self.files[self._pos]
            self._pos += 1
            index = self._index
            self._index += 1
            start = time.perf_counter()
            img = cv2.imread(str(path), cv2.IMREAD_COLOR)
            t = time.monotonic()
            if img is None or img.size == 0 or (self.size and (img.shape[1], img.shape[0]) != self.size):
                self.corrupt += 1
                log.warning("%s: unreadable or wrong-sized image: skipped", path)
                continue
            self.size = self.size or (img.shape[1], img.shape[0])
            return Frame(index, img, t, time.time(), (time.perf_counter() - start) * 1e3)


class LiveReader:
    """Live mode: a thread reads the source (paced for files/folders) and keeps only the newest frame."""

    def __init__(self, source: Source, paced: bool) -> None:
        self.source = source
        self.paced = paced
        self._cond = threading.Condition()
        self._newest: Frame | None = None
        self._ended = False
        self._error: BaseException | None = None
        self.dropped = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"capture-{source.spec.name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        period = 1.0 / self.source.fps
        next_t = time.monotonic()
        try:
            while not self._stop.is_set():
                if self.paced:  # a file behaves like a camera: one frame per period
                    delay = next_t - time.monotonic()
                    if delay > 0:
                        self._stop.wait(delay)
                    next_t = max(next_t + period, time.monotonic() - period)
                frame = self.source.read()
                with self._cond:
                    if frame is None:
                        self._ended = True
                        self._cond.notify_all()
                        return
                    if self._newest is not None:
                        self.dropped += 1  # never queued: the older frame is simply replaced
                    self._newest = frame
                    self._cond.notify_all()
        except BaseException as err:  # handed to the consumer thread, which reports it
            with self._cond:
                self._error, self._ended = err, True
                self._cond.notify_all()

    def get(self, timeout: float) -> Frame | str | None:
        """The newest frame; "timeout" if none within `timeout` s; None when the source ended."""
        with self._cond:
            if self._newest is None and not self._ended:
                self._cond.wait(timeout)
            if self._newest is not None:
                frame, self._newest = self._newest, None
                return frame
            if self._error is not None:
                raise self._error
            return None if self._ended else "timeout"

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=1.0)


def open_source(spec: SourceSpec, cfg: CaptureConfig) -> Source:
    """Open a source (InputError with one clear line if it cannot be used)."""
    if spec.kind == "folder":
        return FolderSource(spec, cfg)
    return VideoSource(spec, cfg)
