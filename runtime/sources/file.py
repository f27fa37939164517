"""A video file: read at its own frame rate in live mode, restarted at the end with `loop`."""

from __future__ import annotations

import logging
import os

import cv2
import numpy as np

from camerapose.core.errors import InputError

from .base import CaptureConfig, SourceSpec, path_problem
from .opencv import CaptureSource, read_image

log = logging.getLogger(__name__)


class FileSource(CaptureSource):
    """A video file. `fps` is the file's rate when it states a plausible one (1-240), else the
    config's; `frame_count` is what its header claims (0 if unknown)."""

    paced = True
    seekable = True

    def __init__(self, spec: SourceSpec, cfg: CaptureConfig) -> None:
        super().__init__(spec, cfg)  # fps: the file's own rate (opencv.reported_fps)
        self.frame_count = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)

    def _open(self) -> cv2.VideoCapture:
        uri = self.spec.uri
        problem = path_problem(uri, missing="no such file")
        if problem is not None or os.path.isdir(uri):
            raise InputError(f"{uri}: {problem or 'is a folder, not a video file'}")
        cap = cv2.VideoCapture(uri)
        if not cap.isOpened():
            raise InputError(f"{uri}: not a readable video (unknown format or truncated)")
        return cap

    def _recover(self) -> np.ndarray | None:
        """At the end with `loop`: rewind and read the first frame again."""
        if not (self.cfg.loop and self._index > 0):
            return None
        self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
        return read_image(self._cap)

    def _on_end(self) -> None:
        if self.frame_count and self._index < self.frame_count - 1:
            log.warning(
                "%s: ended after %d of %d frames (truncated?)",
                self.spec.uri,
                self._index,
                self.frame_count,
            )

    def resume_at(self, index: int) -> None:
        """Seek to frame `index` (modulo the length with `loop`, else at most the end)."""
        if index <= 0:
            return
        n = self.frame_count or index + 1
        self._cap.set(cv2.CAP_PROP_POS_FRAMES, index % n if self.cfg.loop else min(index, n))
        self._first = None  # read before the seek: not the frame at `index`
        self._index = index
