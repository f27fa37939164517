"""Frame sources, one module per kind behind one interface (base.Source):

- camera.CameraSource: a webcam by index;  file.FileSource: a video file;
- url.UrlSource: an rtsp/http... stream;   folder.FolderSource: an image folder;
- gst.GstSource: `gst:PIPELINE`, a GStreamer pipeline run by a gst-launch-1.0 child (Jetson CSI
  cameras, hardware decoding; the user writes no sink, docs/jetson.md "Sources on a Jetson");
- opencv.CaptureSource: the OpenCV reading camera, file and url share;
- live.LiveReader: live mode's newest-frame-wins thread over any source.

Offline (`--every-frame`), the caller reads on demand with `Source.read()`: every frame, none
dropped, as fast as asked. Live, it asks a LiveReader for the newest frame.
"""

from __future__ import annotations

from .base import CaptureConfig, Source, SourceSpec
from .camera import CameraSource
from .file import FileSource
from .folder import FolderSource
from .gst import GstSource
from .url import UrlSource

KINDS: dict[str, type[Source]] = {
    "webcam": CameraSource,
    "file": FileSource,
    "url": UrlSource,
    "folder": FolderSource,
    "gst": GstSource,
}


def open_source(spec: SourceSpec, cfg: CaptureConfig) -> Source:
    """Open the source `spec.kind` names (InputError with one clear line if it cannot be used)."""
    return KINDS[spec.kind](spec, cfg)
