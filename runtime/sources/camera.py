"""A webcam by its index ("0", "1"...), at the capture size the config asks for."""

from __future__ import annotations

import cv2

from camerapose.core.errors import InputError

from .opencv import CaptureSource


class CameraSource(CaptureSource):
    """A local camera. It sets its own pace (its frame rate), and a failed read ends it."""

    what = "camera"

    def _open(self) -> cv2.VideoCapture:
        uri = self.spec.uri
        cap = cv2.VideoCapture(int(uri))
        if not cap.isOpened():
            raise InputError(f"camera {uri}: no such camera (is it connected and free?)")
        if self.cfg.width and self.cfg.height:  # a request: the camera may pick the nearest it has
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.cfg.width)
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.cfg.height)
        return cap
