"""Live mode: a thread reads the source as fast as it gives frames and keeps only the newest one.

A consumer slower than the source never falls behind: frames it had no time for are replaced, never
queued, and counted in `dropped`. Paced sources (files, folders) are read at their `fps`, so that a
file behaves like a camera.

    live = LiveReader(source)
    got = live.get(timeout=0.05)   # a Frame, Wait.TIMEOUT (nothing new yet) or Wait.ENDED
"""

from __future__ import annotations

import enum
import threading
import time

from .base import Frame, Source


class Wait(enum.Enum):
    """What LiveReader.get() returns instead of a frame."""

    TIMEOUT = "timeout"  # no new frame within the timeout: ask again
    ENDED = "ended"  # the source has no more frames


class LiveReader:
    """Reads `source` on its own thread; `get()` hands out the newest frame read since the last get."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.dropped = 0  # frames replaced by a newer one before anyone took them
        self._cond = threading.Condition()
        self._newest: Frame | None = None
        self._ended = False
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"capture-{source.spec.name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        period = 1.0 / self.source.fps
        next_t = time.monotonic()
        try:
            while not self._stop.is_set():
                if self.source.paced:  # one frame per period, as a camera would give them
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
                        self.dropped += 1
                    self._newest = frame
                    self._cond.notify_all()
        except BaseException as err:  # handed to the consumer thread, which reports it
            with self._cond:
                self._error, self._ended = err, True
                self._cond.notify_all()

    def get(self, timeout: float) -> Frame | Wait:
        """The newest frame not yet taken, waiting at most `timeout` s for one; Wait.TIMEOUT if none
        came, Wait.ENDED once the source has ended and its last frame was taken. An error the
        source raised on the reader thread is raised here."""
        with self._cond:
            if self._newest is None and not self._ended:
                self._cond.wait(timeout)
            if self._newest is not None:
                frame, self._newest = self._newest, None
                return frame
            if self._error is not None:
                raise self._error
            return Wait.ENDED if self._ended else Wait.TIMEOUT

    def close(self) -> None:
        """Stop the thread (it finishes the read in progress; waits at most 1 s)."""
        self._stop.set()
        self._thread.join(timeout=1.0)
