"""The shared-memory frame ring: newest wins, torn/overwritten frames are never returned, no leaks."""

from __future__ import annotations

import errno
import os
import secrets
import threading

import numpy as np
import pytest

from camerapose.core.errors import InputError
from camerapose.runtime.frame_ring import (
    FrameRing,
    check_shm_dir,
    leftover_segments,
    ring_path,
    space_error,
)


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


def test_a_frame_read_in_place_is_read_only_and_its_overwrite_is_detected_after_use(ring: FrameRing) -> None:
    ring.write(1, frame(1), t=1.0)
    other = FrameRing.attach(ring.path.name)
    try:
        view = other.view(1)
        assert view is not None and (view == 1).all() and other.holds(1)
        with pytest.raises(ValueError, match="read-only"):
            view[0, 0, 0] = 9
        ring.write(5, frame(5), t=5.0)  # the writer reuses frame 1's slot while the reader works
        assert not other.holds(1)  # so the reader throws its work on the frame away
        assert other.view(1) is None and other.holds(5)
    finally:
        del view
        other.close()


def test_a_live_writer_skips_the_frame_that_would_overwrite_a_pinned_one(ring: FrameRing) -> None:
    for i in range(4):
        ring.write(i, frame(i), t=0.0)
    reader = FrameRing.attach(ring.path.name)
    try:
        reader.pin(1)
        assert ring.write(4, frame(4), t=0.0, live=True)  # another slot: written
        assert not ring.write(5, frame(5), t=0.0, live=True)  # frame 1's slot: dropped instead
        assert reader.holds(1) and (reader.view(1) == 1).all() and ring.newest() == 4
        assert ring.write(6, frame(6), t=0.0, live=True)
        reader.pin(6)  # done with frame 1: its slot is free again
        assert ring.write(9, frame(9), t=0.0, live=True) and not reader.holds(1)
        reader.pin(9)
        assert ring.write(13, frame(13), t=0.0) and ring.newest() == 13  # offline writes: never skipped
    finally:
        reader.close()


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


# -- the rings' folder and its space (issue 21, item 2) -------------------------------------------
def statvfs(free: int, total: int, frsize: int = 4096) -> os.statvfs_result:
    """A statvfs result of a file system with `free` of `total` bytes available."""
    return os.statvfs_result((frsize, frsize, total // frsize, free // frsize, free // frsize,
                              1000, 1000, 1000, 0, 255))


def test_space_error_names_the_folder_the_size_needed_and_the_fix() -> None:
    mib = 2**20
    assert space_error(40 * mib, statvfs(free=40 * mib, total=64 * mib), "/dev/shm") is None
    err = space_error(40 * mib + 1, statvfs(free=24 * mib, total=64 * mib), "/dev/shm", "a frame ring")
    assert err is not None and "\n" not in err
    assert err.startswith("not enough shared memory in /dev/shm: a frame ring needs 40.0 MiB, "
                          "24.0 MiB free"), err
    assert "of 64.0 MiB" in err and "--shm-size" in err and "CAMERAPOSE_SHM_DIR" in err, err


def test_a_ring_too_big_for_the_free_space_is_refused_before_any_file_is_made(monkeypatch) -> None:
    from camerapose.runtime import frame_ring

    monkeypatch.setattr(frame_ring.os, "statvfs", lambda _: statvfs(free=1 << 20, total=64 << 20))
    name = f"camerapose-test-{secrets.token_hex(4)}"
    with pytest.raises(InputError, match=r"not enough shared memory in .*: a frame ring \(8 frames of 1\.0"):
        FrameRing.create(name, slots=8, slot_bytes=1 << 20)
    assert not ring_path(name).exists()


def test_a_ring_whose_pages_cannot_be_reserved_is_refused_and_removed(monkeypatch) -> None:
    """Another ring took the space between the check and the allocation: ENOSPC, the same line."""
    from camerapose.runtime import frame_ring

    def full(fd: int, offset: int, size: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(frame_ring.os, "posix_fallocate", full)
    name = f"camerapose-test-{secrets.token_hex(4)}"
    with pytest.raises(InputError, match=r"not enough shared memory in .*: a frame ring \(2 frames of 1\.0 "
                                         r"MiB; one per stream\) needs 2\.0 MiB.*--shm-size"):
        FrameRing.create(name, slots=2, slot_bytes=1 << 20)
    assert not ring_path(name).exists()


def test_a_new_ring_has_its_pages_reserved_so_a_write_cannot_sigbus() -> None:
    r = FrameRing.create(f"camerapose-test-{secrets.token_hex(4)}", slots=4, slot_bytes=1 << 20)
    try:
        size = r.path.stat().st_size
        assert r.path.stat().st_blocks * 512 >= size  # allocated, not a sparse file
    finally:
        r.close()
        r.unlink()


@pytest.mark.parametrize("kind, why", [("missing", "no such folder"), ("file", "not a folder")])
def test_a_shm_dir_missing_or_a_file_is_one_input_error(tmp_path, monkeypatch, kind: str, why: str) -> None:
    folder = tmp_path / "shm"
    if kind == "file":
        folder.write_text("not a folder")
    monkeypatch.setenv("CAMERAPOSE_SHM_DIR", str(folder))
    with pytest.raises(InputError, match=f"CAMERAPOSE_SHM_DIR={folder}: {why}"):
        check_shm_dir()
    with pytest.raises(InputError, match=why):
        FrameRing.create("camerapose-test-x", slots=2, slot_bytes=16)
    assert leftover_segments() == []  # the supervisor's clean-up must not raise either
