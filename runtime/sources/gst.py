"""A GStreamer pipeline as a source: `gst:PIPELINE`, e.g. a Jetson CSI camera, hardware decoding.

OpenCV's pip wheel has no GStreamer backend, so the pipeline runs in a `gst-launch-1.0` child:

    gst-launch-1.0 -v -e PIPELINE ! videoconvert ! video/x-raw,format=BGR ! fdsink name=camerapose_sink fd=N

The user writes PIPELINE up to its last element and never a sink: the tail above is ours. Frames
come through the pipe N (`pass_fds`) as raw BGR rows; their size and rate come from the caps our
sink negotiated, which `-v` prints on the child's stdout (read by a thread, which also keeps the
lines for the child's ERROR message). The pipeline text is split into words as a shell would
(quotes group; base.check_pipeline, which also refuses a sink at the end), so a command that works
in a shell works here after `gst:`. The child has its own session (a terminal's Ctrl-C reaches the
runtime, which stops it with an EOS first) and dies with the process that started it. POSIX only.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import select
import shutil
import signal
import subprocess
import threading
import time
from collections import deque
from dataclasses import dataclass

import numpy as np

from camerapose.children import dies_with_parent
from camerapose.core.errors import InputError

from .base import FPS_RANGE, CaptureConfig, Frame, Source, SourceSpec, check_pipeline, short

log = logging.getLogger(__name__)

GST_LAUNCH = "gst-launch-1.0"
SINK_NAME = "camerapose_sink"
# videoconvert: whatever the pipeline ends in (NV12 from a decoder, BGRx from nvvidconv) -> BGR;
# sync=false: frames leave as soon as they are made (live sources set their own pace).
TAIL = ("!", "videoconvert", "!", "video/x-raw,format=BGR", "!", "fdsink", f"name={SINK_NAME}", "sync=false")
START_TIMEOUT_S = 10.0  # caps and the first frame within this, else an InputError (never hang)
EOS_WAIT_S = 0.5  # close(): time for the EOS after SIGINT (a clean stop: Argus cameras need it)
TERM_WAIT_S = 0.5  # close(): then SIGTERM, then SIGKILL; the stage's stop_timeout_s is 1 s
# First elements that make as many frames as they are read (a file, a test pattern): live mode paces
# them at their fps, as it does a video file. Any other source is live and sets its own pace.
FINITE_SOURCES = ("filesrc", "multifilesrc", "splitfilesrc", "imagesequencesrc", "videotestsrc")
_CAPS = re.compile(rf":{SINK_NAME}\.GstPad:sink: caps = (video/x-raw.*)$")


@dataclass(frozen=True)
class Caps:
    """The negotiated caps of our sink: frame size, rate (0 when the caps say 0/1 or none), format."""

    width: int
    height: int
    fps: float
    format: str

    @property
    def row_bytes(self) -> int:
        """Bytes per image row in the pipe: GStreamer pads each row of packed BGR to 4 bytes."""
        return (self.width * 3 + 3) // 4 * 4


def parse_caps(line: str) -> Caps | None:
    """Our sink's caps from one line of `gst-launch-1.0 -v` output, or None when the line is not
    that (`.../GstFdSink:camerapose_sink.GstPad:sink: caps = video/x-raw, format=(string)BGR,
    width=(int)640, height=(int)480, framerate=(fraction)30/1, ...`)."""
    m = _CAPS.search(line.rstrip())
    if m is None:
        return None
    caps = m.group(1)
    w, h = _field(caps, "width", r"\d+"), _field(caps, "height", r"\d+")
    if w is None or h is None:
        return None
    rate = _field(caps, "framerate", r"\d+/\d+") or "0/1"
    num, den = (int(x) for x in rate.split("/"))
    return Caps(int(w), int(h), num / den if den else 0.0, _field(caps, "format", r"[\w-]+") or "")


def _field(caps: str, name: str, value: str) -> str | None:
    m = re.search(rf"\b{name}=(?:\(\w+\))?({value})", caps)
    return m.group(1) if m else None


def is_finite(words: list[str]) -> bool:
    """Whether the pipeline starts with a source that makes frames as fast as they are read (a
    file, a test pattern that is not `is-live=true`), rather than a live camera or stream."""
    first = words[0] if words else ""
    if first == "videotestsrc":
        head = words[1:words.index("!")] if "!" in words else words[1:]
        return not any(w.lower() in ("is-live=true", "is-live=1") for w in head)
    if first in ("uridecodebin", "uridecodebin3", "urisourcebin"):
        return any(w.startswith("uri=file:") for w in words[1:])
    return first in FINITE_SOURCES


def error_line(lines: list[str]) -> str | None:
    """gst-launch's own first error in its output, as one line, or None: `no element "foo"`,
    `filesrc0: Resource not found. (No such file "/x.mp4")`."""
    for i, line in enumerate(lines):
        if line.startswith("WARNING: erroneous pipeline:"):
            return line.split(":", 2)[2].strip()
        if not line.startswith("ERROR:"):
            continue
        m = re.match(r"ERROR: from element (\S+): (.*)", line)
        if m is None:
            return line[len("ERROR:"):].strip()
        what = f"{m.group(1).rsplit(':', 1)[-1]}: {m.group(2).strip()}"
        # "Additional debug info:", then "file.c(553): function (): /path:", then the detail
        detail = lines[i + 3].strip() if len(lines) > i + 3 and lines[i + 1].startswith("Additional") else ""
        return f"{what} ({detail})" if detail and not detail.startswith("ERROR") else what
    return None


def exit_words(code: int | None) -> str:
    """How gst-launch ended, in words: "end of stream", "exit code 1", "killed by SIGKILL"."""
    if code is None or code >= 0:
        return "end of stream" if code == 0 else f"exit code {code}"
    try:
        return f"killed by {signal.Signals(-code).name}"
    except ValueError:
        return f"killed by signal {-code}"


class GstSource(Source):
    """A `gst:PIPELINE` source. Opening waits for the caps and the first frame (InputError after
    START_TIMEOUT_S); `read()` gives (H, W, 3) uint8 BGR frames until the pipeline ends (EOS, or a
    child that died: a warning with its error). Not seekable; `paced` for file and test sources."""

    def __init__(self, spec: SourceSpec, cfg: CaptureConfig) -> None:
        super().__init__(spec, cfg)
        words = check_pipeline(spec.uri)
        self.paced = is_finite(words)
        self._lines: deque[str] = deque(maxlen=400)  # the child's output (stdout + stderr), newest last
        self._caps: Caps | None = None
        self._caps_seen = threading.Event()  # set at the first caps, or when the child's output ends
        self._output_done = threading.Event()  # set when the child's output ended (it exited)
        self._ended = False
        self._resized: Caps | None = None  # caps of another frame size, negotiated mid-stream
        self._proc, self._pipe = self._start(words)
        try:
            self._first: np.ndarray | None = self._open(time.monotonic() + START_TIMEOUT_S)
        except BaseException:
            self.close()
            raise

    # -- starting ----------------------------------------------------------------------------
    def _start(self, words: list[str]) -> tuple[subprocess.Popen, io.FileIO]:
        """Spawn gst-launch with the frames' pipe as fd N -> (the child, the pipe's read end)."""
        exe = shutil.which(GST_LAUNCH)
        if exe is None:
            raise InputError(f"{short(self.spec.uri)}: {GST_LAUNCH} is not installed (Debian, Ubuntu, "
                             "JetPack: sudo apt-get install gstreamer1.0-tools gstreamer1.0-plugins-base "
                             "gstreamer1.0-plugins-good)")
        read_fd, write_fd = _pipe()
        cmd = [exe, "-v", "-e", *words, *TAIL, f"fd={write_fd}"]
        try:
            # its own session: a Ctrl-C in the terminal goes to the runtime, which stops the child
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, pass_fds=(write_fd,), start_new_session=True,
                                    preexec_fn=dies_with_parent())
        except OSError as err:
            _close_fds(read_fd, write_fd)
            raise InputError(f"{short(self.spec.uri)}: cannot start {GST_LAUNCH} ({err.strerror})") from None
        _close_fds(write_fd)  # the child's now: EOF on our end when it exits
        threading.Thread(target=self._follow, args=(proc.stdout,), name=f"gst-{self.spec.name}",
                         daemon=True).start()
        return proc, io.FileIO(read_fd, "rb", closefd=True)

    def _follow(self, out: io.BufferedReader) -> None:
        """The child's output, line by line until it exits: keeps the lines, notes the caps."""
        for raw in out:
            line = raw.decode("utf-8", "replace").rstrip()
            self._lines.append(line)
            caps = parse_caps(line)
            if caps is None:
                continue
            if self._caps is None:
                self._caps = caps
                self._caps_seen.set()
            elif (caps.width, caps.height) != (self._caps.width, self._caps.height):
                self._resized = caps
        out.close()
        self._output_done.set()
        self._caps_seen.set()

    def _open(self, deadline: float) -> np.ndarray:
        """Wait for the caps and the first frame (before `deadline`) -> the first image."""
        self._caps_seen.wait(max(0.0, deadline - time.monotonic()))
        caps = self._caps
        if caps is None:
            raise self._failed(deadline, "no video caps")
        self.size = (caps.width, caps.height)
        self.fps = caps.fps if FPS_RANGE[0] <= caps.fps <= FPS_RANGE[1] else self.cfg.fps
        log.info("%s: %dx%d at %s fps (%s)", short(self.spec.uri), caps.width, caps.height,
                 f"{self.fps:g}", "a file or test source" if self.paced else "a live source")
        img = self._read_image(caps, deadline)
        if img is None:
            raise self._failed(deadline, "no frame")
        return img

    def _failed(self, deadline: float, what: str) -> InputError:
        """Why the pipeline gave `what` ("no video caps", "no frame"): its error, its end or the timeout."""
        uri = short(self.spec.uri)
        if time.monotonic() >= deadline and self._proc.poll() is None:
            return InputError(f"{uri}: {what} within {START_TIMEOUT_S:g} s (is the camera or stream there? "
                              f"try the pipeline alone: {GST_LAUNCH} PIPELINE ! autovideosink)")
        code = _wait(self._proc, 2.0)
        why = error_line(self._child_lines())
        if why is None:
            return InputError(f"{uri}: the pipeline ended before its first frame ({exit_words(code)})")
        return InputError(f"{uri}: {GST_LAUNCH} failed: {why}")

    def _child_lines(self) -> list[str]:
        """The child's output so far (all of it once it exited and the reader thread is done)."""
        if self._proc.poll() is not None:
            self._output_done.wait(1.0)  # the reader thread may still hold the last lines
        return list(self._lines)

    # -- reading -----------------------------------------------------------------------------
    def _read_image(self, caps: Caps, deadline: float | None = None) -> np.ndarray | None:
        """One frame from the pipe as (H, W, 3) uint8 BGR, or None at the end of the stream (a
        partial last frame is counted in `corrupt`) or when `deadline` (monotonic s) passed first."""
        buf = np.empty((caps.height, caps.row_bytes), np.uint8)
        got = self._read_into(memoryview(buf).cast("B"), deadline)
        if got < buf.size:
            if got and deadline is None:  # (past a deadline, opening reports the timeout)
                self.corrupt += 1
                log.warning("%s: the last frame is incomplete (%d of %d bytes): skipped",
                            short(self.spec.uri), got, buf.size)
            return None
        img = buf[:, : caps.width * 3].reshape(caps.height, caps.width, 3)
        return img if caps.row_bytes == caps.width * 3 else np.ascontiguousarray(img)

    def _read_into(self, view: memoryview, deadline: float | None) -> int:
        """Fill `view` from the pipe -> the bytes read (fewer at its end, or past `deadline`)."""
        got = 0
        while got < len(view):
            if deadline is not None:
                wait = deadline - time.monotonic()
                if wait <= 0 or not select.select([self._pipe], [], [], wait)[0]:
                    return got
            try:
                n = self._pipe.readinto(view[got:])
            except (OSError, ValueError):  # closed by close() on another thread
                return got
            if not n:
                return got
            got += n
        return got

    def read(self) -> Frame | None:
        start = time.perf_counter()
        if self._first is not None:  # read while opening: hand it out first
            img, self._first = self._first, None
        else:
            img = self._next_image()
        t = time.monotonic()
        if img is None:
            self._on_end()
            return None
        return self._frame(self._take_index(), img, t, start)

    def _next_image(self) -> np.ndarray | None:
        """The next frame, or None: at the end, or when the frame size changed mid-stream (the
        rows in the pipe can no longer be told apart)."""
        if self._ended or self._resized is not None or self._caps is None:
            return None
        img = self._read_image(self._caps)
        if self._resized is not None:
            caps = self._resized
            log.warning("%s: the frame size changed to %dx%d mid-stream: the stream ends here",
                        short(self.spec.uri), caps.width, caps.height)
            return None
        return img

    def _on_end(self) -> None:
        """The end of the stream: reap the child; a failure is a warning with its error."""
        if self._ended or self._pipe.closed:
            return
        self._ended = True
        code = _wait(self._proc, 2.0)
        if code in (0, None) or self._resized is not None:
            log.info("%s: end of stream after %d frames", short(self.spec.uri), self._index)
            return
        why = error_line(self._child_lines()) or exit_words(code)
        log.warning("%s: the pipeline stopped after %d frames: %s", short(self.spec.uri), self._index, why)

    def resume_at(self, index: int) -> None:
        """A pipeline cannot seek: only the numbering goes on at `index`."""
        if index > 0:
            self._index = index

    def close(self) -> None:
        """Stop the child (SIGINT: EOS through the pipeline, then SIGTERM, then SIGKILL), reap it
        and close the pipe. Never hangs: at most EOS_WAIT_S + TERM_WAIT_S and a kill."""
        proc = self._proc
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGINT)  # -e: gst-launch sends EOS and stops cleanly
            self._drain(time.monotonic() + EOS_WAIT_S)
        if proc.poll() is None:
            proc.terminate()
            if _wait(proc, TERM_WAIT_S) is None:
                proc.kill()
                proc.wait()
        self._pipe.close()

    def _drain(self, deadline: float) -> None:
        """Read and drop frames until the child exits or `deadline`: a sink blocked on a full pipe
        could not pass the EOS on."""
        scrap = bytearray(1 << 16)
        while self._proc.poll() is None and not self._pipe.closed:
            wait = deadline - time.monotonic()
            if wait <= 0:
                return
            try:
                if select.select([self._pipe], [], [], min(wait, 0.05))[0] and not self._pipe.readinto(scrap):
                    _wait(self._proc, max(0.0, deadline - time.monotonic()))  # EOF: it is exiting
                    return
            except (OSError, ValueError):
                return


def _pipe() -> tuple[int, int]:
    """A pipe for the frames, enlarged to 1 MiB where Linux allows (fewer reads per frame)."""
    read_fd, write_fd = os.pipe()
    with contextlib.suppress(OSError, AttributeError, ImportError):
        import fcntl  # POSIX only

        fcntl.fcntl(write_fd, fcntl.F_SETPIPE_SZ, 1 << 20)
    return read_fd, write_fd


def _close_fds(*fds: int) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


def _wait(proc: subprocess.Popen, timeout: float) -> int | None:
    """The child's exit code, waiting at most `timeout` s; None if it still runs."""
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        return None
