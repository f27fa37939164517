"""A network stream (rtsp://, http://...): connect with retries, reconnect when the stream drops."""

from __future__ import annotations

import logging
import time

import cv2
import numpy as np

from camerapose.core.errors import InputError

from .opencv import CaptureSource, read_image

log = logging.getLogger(__name__)


class UrlSource(CaptureSource):
    """A stream that sets its own pace. A lost stream is reopened (same retries and backoff as the
    first connection); only when that fails too is it an InputError."""

    def _open(self) -> cv2.VideoCapture:
        """Try `retries + 1` times; the delay between tries doubles, capped at `backoff_max_s`."""
        uri, cfg = self.spec.uri, self.cfg
        delay = cfg.backoff_s
        for attempt in range(cfg.retries + 1):
            cap = cv2.VideoCapture(uri)
            if cap.isOpened():
                return cap
            cap.release()
            if attempt < cfg.retries:
                log.warning(
                    "%s: cannot connect (attempt %d of %d); retrying in %.1f s",
                    uri,
                    attempt + 1,
                    cfg.retries + 1,
                    delay,
                )
                time.sleep(delay)
                delay = min(delay * 2, cfg.backoff_max_s)
        raise InputError(f"{uri}: cannot connect after {cfg.retries + 1} attempts")

    def _recover(self) -> np.ndarray | None:
        log.warning("%s: stream lost; reconnecting", self.spec.uri)
        self._cap.release()
        self._cap = self._open()
        return read_image(self._cap)
