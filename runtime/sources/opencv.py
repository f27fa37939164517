"""The OpenCV part that cameras, video files and URLs share: a cv2.VideoCapture read frame by frame.

Each kind says how to open its capture (`_open`) and what to do when a read fails (`_recover`:
reconnect, rewind, or end); the reading, numbering and size checks live here once.
"""

from __future__ import annotations

import logging
import time
from abc import abstractmethod

import cv2
import numpy as np

from camerapose.core.errors import InputError

from .base import CaptureConfig, Frame, Source, SourceSpec

log = logging.getLogger(__name__)


def read_image(cap: cv2.VideoCapture) -> np.ndarray | None:
    """The capture's next image (HxWx3 uint8 BGR), or None when it gives none."""
    ok, img = cap.read()
    return img if ok and img is not None else None


def reported_fps(cap: cv2.VideoCapture, default: float) -> float:
    """The capture's own frame rate when it states a plausible one (1-240), else `default`."""
    rate = cap.get(cv2.CAP_PROP_FPS)
    return float(rate) if rate and 1 <= rate <= 240 else default


class CaptureSource(Source):
    """A source read through cv2.VideoCapture. The first frame is read on opening, so a device or
    file that opens but gives nothing is an InputError at once, not a silent empty stream. `fps` is
    the rate the capture reports (a file's own, a camera's as opened) when plausible, else the config's."""

    what = "video"  # names the source in the "gives no frames" error

    def __init__(self, spec: SourceSpec, cfg: CaptureConfig) -> None:
        super().__init__(spec, cfg)
        self._cap = self._open()
        self.fps = reported_fps(self._cap, cfg.fps)
        self._first: np.ndarray | None = self._read_first()

    @abstractmethod
    def _open(self) -> cv2.VideoCapture:
        """An opened capture, or an InputError saying why there is none."""

    def _recover(self) -> np.ndarray | None:
        """Called when a read fails: an image from a reopened or rewound capture, or None (the end)."""
        return None

    def _on_end(self) -> None:
        """Called when the source ends (a file warns here if it ended early)."""

    def _read_first(self) -> np.ndarray:
        img = read_image(self._cap)
        if img is None or img.size == 0:
            self._cap.release()
            raise InputError(f"{self.spec.uri}: the {self.what} gives no frames (unreadable or truncated?)")
        self.size = (img.shape[1], img.shape[0])
        return img

    def _grab(self) -> np.ndarray | None:
        if self._first is not None:  # read while opening: hand it out first
            img, self._first = self._first, None
            return img
        img = read_image(self._cap)
        return img if img is not None else self._recover()

    def read(self) -> Frame | None:
        while True:
            start = time.perf_counter()
            img = self._grab()
            t = time.monotonic()
            if img is None:
                self._on_end()
                return None
            index = self._take_index()
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
            return self._frame(index, img, t, start)

    def resume_at(self, index: int) -> None:
        """Live devices cannot seek: only the numbering goes on at `index`."""
        if index > 0:
            self._index = index

    def close(self) -> None:
        self._cap.release()
