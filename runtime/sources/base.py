"""What every source shares: the options (CaptureConfig), what to open (SourceSpec), what comes out
(Frame) and the interface each kind implements (Source).

    with open_source(SourceSpec("clip.mp4"), CaptureConfig(mode="offline")) as src:
        while (frame := src.read()) is not None:
            ...

Timestamps are `time.monotonic()` at the moment the frame was read, and the frame's time in the
source itself, `t_media` = index / fps (a file's own rate, a GStreamer pipeline's negotiated one,
or `fps` for folders and files without one): offline runs clock every filter with it, so their
results do not depend on how fast they ran. A frame that cannot be decoded (an image file that
is not an image, a wrong-sized frame) is skipped and counted in `corrupt`. A user error (missing
file, absent camera, dead URL after retries, a GStreamer pipeline that does not start) is an
InputError.
"""

from __future__ import annotations

import errno
import os
import re
import shlex
import stat
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from camerapose.core.config import check_ranges
from camerapose.core.errors import InputError

URL_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://")
GST_PREFIX = "gst:"  # gst:PIPELINE, a GStreamer pipeline without its sink (gst.GstSource)
FPS_RANGE = (0.01, 1000.0)  # frames per second a human could mean: one frame in 100 s to 1000 a second
MAX_CAMERA_INDEX = 9999  # webcam indices 0..9999 (OpenCV's own backend offsets stay below 10000)
STREAM_NAME = re.compile(r"[A-Za-z0-9_\-]{1,64}")
STREAM_NAME_RULE = "1 to 64 letters, digits, _ or - (no '.', '=', spaces or newlines)"


def check_stream_name(name: str) -> None:
    """InputError naming the rule unless `name` is a stream name (it becomes the topic pose.NAME)."""
    if not STREAM_NAME.fullmatch(name):
        shown = name if len(name) <= 80 else name[:80] + "..."
        raise InputError(f"stream name {shown!r}: a name is {STREAM_NAME_RULE}")


def path_problem(path: str | Path, missing: str = "no such file or folder") -> str | None:
    """Why `path` is no file or folder that can be read, in a few words (`missing` when nothing is
    there), or None when it is one. Never raises: a name over 255 bytes, a symlink loop, a device or
    a FIFO each get their own words."""
    try:
        st = os.stat(path)
    except ValueError:  # a NUL character (from Python callers; a shell cannot pass one)
        return "not a path (it holds a NUL character)"
    except OSError as err:
        if err.errno == errno.ENOENT:
            return f"{missing} (a broken symbolic link)" if os.path.islink(path) else missing
        return os_reason(err)
    if stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode):
        return None
    kinds = ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
             (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"))
    what = next((words for test, words in kinds if test(st.st_mode)), "a special file")
    return f"is {what}, not a file or folder"


def os_reason(err: OSError) -> str:
    """An OSError about a path, in words that say what to change."""
    words = {
        errno.ENAMETOOLONG: "file name too long (at most 255 bytes a name, 4095 a path)",
        errno.ELOOP: "too many levels of symbolic links (a symlink loop?)",
        errno.ENOTDIR: "a part of the path is a file, not a folder",
        errno.EACCES: "permission denied",
    }
    return words.get(err.errno or 0) or (err.strerror or str(err)).lower()


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
                     fps=FPS_RANGE, ring_slots=(2, 256), width=(0, 16384), height=(0, 16384))


@dataclass(frozen=True)
class SourceSpec:
    """One source: `uri` (webcam index, file, folder, URL or gst:PIPELINE) and the stream name it
    publishes as. A gst: pipeline's text is checked here (empty, ending in a sink), before any run."""

    uri: str
    name: str = "0"

    def __post_init__(self) -> None:
        if not self.uri.strip():  # "" would read the current folder as an image folder
            raise InputError(f"stream {self.name}: empty source; give a webcam index, file, folder or URL")
        if _is_index(self.uri) and (len(self.uri) > 5 or int(self.uri) > MAX_CAMERA_INDEX):
            shown = self.uri if len(self.uri) <= 20 else self.uri[:20] + "..."
            raise InputError(f"camera {shown}: a webcam index is 0 to {MAX_CAMERA_INDEX} "
                             "(a file named with digits: write it as ./NAME)")
        if self.kind == "gst":
            check_pipeline(self.uri)

    @property
    def kind(self) -> str:
        """One of "webcam" (ASCII digits), "url" (a known scheme), "gst" (gst:PIPELINE), "folder" (a
        directory), "file"."""
        u = self.uri
        if u[: len(GST_PREFIX)].lower() == GST_PREFIX:
            return "gst"
        if _is_index(u):
            return "webcam"
        if u.lower().startswith(URL_SCHEMES):
            return "url"
        return "folder" if os.path.isdir(u) else "file"  # False, not an OSError, for a name too long


def _is_index(uri: str) -> bool:
    return uri.isascii() and uri.isdigit()


# -- gst:PIPELINE text (gst.GstSource runs it) -------------------------------------------------------
def split_elements(pipeline: str) -> list[str]:
    """The pipeline's text between its links (`!` outside quotes), stripped: ["videotestsrc", ...]."""
    parts, start, quote = [], 0, ""
    for i, ch in enumerate(pipeline):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch == "!":
            parts.append(pipeline[start:i].strip())
            start = i + 1
    parts.append(pipeline[start:].strip())
    return parts


def check_pipeline(uri: str) -> list[str]:
    """The words `gst-launch-1.0` gets for `uri` ("gst:PIPELINE"), split as a shell would; an
    InputError (one line) for an empty pipeline, unbalanced quotes or a pipeline that ends in a
    sink (the source adds its own)."""
    pipeline = uri[len(GST_PREFIX):].strip()
    if not pipeline:
        raise InputError(f"{uri}: empty GStreamer pipeline; write gst:ELEMENT ! ELEMENT ... "
                         "(e.g. gst:videotestsrc), without a sink")
    try:
        words = shlex.split(pipeline)
    except ValueError as err:  # "No closing quotation"
        raise InputError(f"{short(uri)}: cannot split the pipeline into words ({err})") from None
    last = split_elements(pipeline)[-1]
    factory = last.split()[0] if last.split() else ""
    if "." not in factory and factory.strip("\"'").endswith("sink"):  # `name.` is a pad reference
        raise InputError(f"{short(uri)}: the pipeline ends in a sink ({factory}); end it with the last "
                         "element before the sink: the source adds its own (videoconvert ! BGR ! fdsink)")
    if not words or words[0] == "!" or words[-1] == "!":
        raise InputError(f"{short(uri)}: the pipeline starts or ends with '!'; write ELEMENT ! ELEMENT ...")
    return words


def short(uri: str, n: int = 60) -> str:
    """A long uri (a gst: pipeline) cut to `n` characters for messages."""
    return uri if len(uri) <= n else uri[:n] + "..."


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

    `paced` is True for sources that run as fast as they are read (files, folders, a gst: pipeline
    from a file or test pattern): live mode then reads them at `fps`, so that they behave like a
    camera. `size` is (width, height) once known.
    `seekable` sources (files, folders) can read a frame again by its index (`resume_at`)."""

    paced = False
    seekable = False

    def __init__(self, spec: SourceSpec, cfg: CaptureConfig) -> None:
        self.spec, self.cfg = spec, cfg
        self.corrupt = 0
        self.fps = cfg.fps
        self.size: tuple[int, int] | None = None
        self._index = 0  # the index the next frame gets

    def _take_index(self) -> int:
        """The next frame's index (a skipped corrupt frame keeps its own: gaps show what was skipped)."""
        index = self._index
        self._index += 1
        return index

    def _frame(self, index: int, image: np.ndarray, t: float, start: float) -> Frame:
        """Frame `index`, read at monotonic time `t`, its reading begun at perf_counter `start`."""
        return Frame(index, image, t, time.time(), (time.perf_counter() - start) * 1e3, index / self.fps)

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
