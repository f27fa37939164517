"""LiveReader over an in-memory source: newest frame wins, explicit timeout and end, errors travel."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from camerapose.core.errors import InputError
from camerapose.runtime.sources.base import CaptureConfig, Frame, Source, SourceSpec
from camerapose.runtime.sources.live import LiveReader, Wait


class MemorySource(Source):
    """`n` tiny frames. Each read first waits for `gate` (if given); `done` is set at the end;
    `error` (if given) is raised instead of the first frame."""

    def __init__(self, n: int, *, fps: float = 30.0, paced: bool = False, gate=None, error=None) -> None:
        super().__init__(SourceSpec("memory"), CaptureConfig(fps=fps))
        self.n, self.paced, self.gate, self.error = n, paced, gate, error
        self.next = 0
        self.done = threading.Event()

    def read(self) -> Frame | None:
        if self.gate is not None:
            self.gate.wait()
        if self.error is not None:
            raise self.error
        if self.next >= self.n:
            self.done.set()
            return None
        i, self.next = self.next, self.next + 1
        return Frame(i, np.zeros((2, 2, 3), np.uint8), time.monotonic(), time.time(), 0.0)

    def resume_at(self, index: int) -> None:
        self.next = index

    def close(self) -> None:
        pass


def test_a_slow_consumer_gets_the_newest_frame_and_the_rest_are_counted_dropped() -> None:
    src = MemorySource(5)
    live = LiveReader(src)
    try:
        assert src.done.wait(2.0)
        got = live.get(1.0)
        assert isinstance(got, Frame) and got.index == 4
        assert live.dropped == 4
        assert live.get(1.0) is Wait.ENDED
        assert live.get(0.0) is Wait.ENDED  # and stays ended
    finally:
        live.close()


def test_no_frame_within_the_timeout_is_wait_timeout_then_the_frame_comes() -> None:
    gate = threading.Event()
    live = LiveReader(MemorySource(1, gate=gate))
    try:
        t0 = time.monotonic()
        assert live.get(0.02) is Wait.TIMEOUT
        assert time.monotonic() - t0 >= 0.015  # it did wait
        gate.set()
        got = live.get(2.0)
        assert isinstance(got, Frame) and got.index == 0
        assert live.get(2.0) is Wait.ENDED
        assert live.dropped == 0
    finally:
        gate.set()
        live.close()


def test_an_error_in_the_reader_thread_is_raised_by_get() -> None:
    live = LiveReader(MemorySource(3, error=InputError("rtsp://cam: cannot connect after 6 attempts")))
    try:
        with pytest.raises(InputError, match="cannot connect"):
            live.get(2.0)
    finally:
        live.close()


def test_a_paced_source_is_read_at_its_frame_rate() -> None:
    src = MemorySource(5, fps=50.0, paced=True)  # 5 frames at 50 fps: the last one 80 ms after the first
    t0 = time.monotonic()
    live = LiveReader(src)
    try:
        assert src.done.wait(2.0)
        assert time.monotonic() - t0 >= 0.07
    finally:
        live.close()
