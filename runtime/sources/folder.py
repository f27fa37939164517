"""An image folder: every image file in name order, as if it were a video."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import cv2

from camerapose.core.errors import InputError

from .base import CaptureConfig, Frame, Source, SourceSpec, os_reason

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


class FolderSource(Source):
    """Every image file of a folder (suffix in IMAGE_SUFFIXES, any case), sorted by name. An image
    that does not decode, or whose size differs from the first one that does, is skipped and counted."""

    paced = True
    seekable = True

    def __init__(self, spec: SourceSpec, cfg: CaptureConfig) -> None:
        super().__init__(spec, cfg)
        try:
            self.files = sorted(p for p in Path(spec.uri).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        except OSError as err:  # unreadable (permissions), gone since
            raise InputError(f"{spec.uri}: cannot list the folder ({os_reason(err)})") from None
        if not self.files:
            raise InputError(f"{spec.uri}: no image files ({', '.join(IMAGE_SUFFIXES)})")
        self.size = self._first_size()
        self._pos = 0  # the next file to read

    def _first_size(self) -> tuple[int, int]:
        """(width, height) of the first image that decodes: every frame must have it. A folder in
        which no image decodes is an InputError at opening (else its run would end with no frame)."""
        for path in self.files:
            img = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if img is not None and img.size > 0:
                return img.shape[1], img.shape[0]
        raise InputError(f"{self.spec.uri}: none of its {len(self.files)} image files decodes")

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
            index = self._take_index()
            start = time.perf_counter()
            img = cv2.imread(str(path), cv2.IMREAD_COLOR)
            t = time.monotonic()
            if img is None or img.size == 0 or (self.size and (img.shape[1], img.shape[0]) != self.size):
                self.corrupt += 1
                log.warning("%s: unreadable or wrong-sized image: skipped", path)
                continue
            return self._frame(index, img, t, start)

    def close(self) -> None:
        """Nothing to release: each image file is opened and closed by its own read."""
