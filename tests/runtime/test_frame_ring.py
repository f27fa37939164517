"""The shared-memory frame ring: newest wins, torn/overwritten frames are never returned, no leaks."""

from __future__ import annotations

import secrets
import threading

import numpy as np
import pytest

from camerapose.runtime.frame_ring import FrameRing, leftover_segments


@pytest.fixture
def ring():
    r = FrameRing.create(f"camerapose-test-{secrets.token_hex(4)}", slots=4, slot_bytes=8 * 6 * 3)
    yield r
    r.close()
    r.unlink()


def frame(i: int) -> np.ndarray:
    return np.full((8, 6, 3), i % 256, np.uint8)


def test_reader_in_another_mapping_gets_the_frame_written(ring: FrameRing) -> None:
    ring.write(0, frame(5), t=1.0)
    other = FrameRing.attach(ring.path.name)
    try:
        got = other.read(0)
        assert got is not None and got.shape == (8, 6, 3) and (got == 5).all()
        assert other.generation == ring.generation
    finally:
        other.close()


def test_overwritten_frame_reads_as_dropped_not_as_the_newer_frame(ring: FrameRing) -> None:
    for i in range(6):  # 4 slots: frames 0 and 1 are overwritten by 4 and 5
        ring.write(i, frame(i), t=float(i))
    assert ring.read(0) is None and ring.read(1) is None
    assert (ring.read(5) == 5).all() and (ring.read(2) == 2).all()


def test_offline_writer_waits_for_release_of_the_slot_it_reuses(ring: FrameRing) -> None:
    for i in range(4):
        ring.write(i, frame(i), t=0.0)
    done = threading.Event()

    def writer() -> None:
        assert ring.wait_free(4, stop=lambda: False)
        ring.write(4, frame(4), t=0.0)
        done.set()

    th = threading.Thread(target=writer)
    th.start()
    assert not done.wait(0.2), "wrote over frame 0 before it was released"
    assert (ring.read(0) == 0).all()
    ring.release(0)
    assert done.wait(2.0)
    th.join()
    assert (ring.read(4) == 4).all()


def test_wait_free_gives_up_when_stopped(ring: FrameRing) -> None:
    assert ring.wait_free(10, stop=lambda: True) is False


def test_unlink_removes_the_segment() -> None:
    name = f"camerapose-test-{secrets.token_hex(4)}"
    r = FrameRing.create(name, 2, 16)
    assert r.path in leftover_segments("test-")
    r.close()
    r.unlink()
    assert not r.path.exists()
