"""A shared-memory ring of frames between one capture process and its readers (newest wins).

A ring is one file in /dev/shm (a tmpfs: RAM, no disk), mapped by every process that uses it:

    header  [magic u64 | slots i64 | slot_bytes i64 | released i64 | generation i64 |
             published i64 | published_count i64 | pinned i64]  64 B
    slots   per slot [seq i64 | height i32 | width i32 | channels i32 | pad i32 | t f64 | pad] 32 B
    data    slots x slot_bytes, 64-byte aligned

The writer marks a slot busy (seq = -1), copies the frame, then publishes seq = frame index; a
reader copies the slot and accepts it only if seq still equals the index it was told about (a
seqlock), so a frame overwritten while being read is detected and counted as dropped, never
returned torn. The detect stage reads in place instead, saving the copy on the latency path: it
`pin`s the frame, which a live writer then skips rather than overwrite (one frame lost to the ring,
not the one being worked on), and checks `holds` once its work on the frame is done (the seqlock's
check, for the instant between a writer's look at the pin and its write). Live mode never waits
(the writer overwrites the oldest slot); offline mode waits until the last reader has `release`d
the frame that last used the slot. The publish stage also marks in the header the stream's last
published frame (`published`: where a restarted offline pipeline resumes) and how many it published
(`published_count`). Plain files + mmap (not multiprocessing.shared_memory) so that no resource
tracker unlinks a segment behind our back: the supervisor, which names every ring, unlinks them all
on the way out. A new ring's pages are reserved when it is made (`posix_fallocate`): a folder too
small for it is one clear error then (`space_error`), never a SIGBUS at a later write.
"""

from __future__ import annotations

import errno
import mmap
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from camerapose.core.errors import InputError

MAGIC = 0x43505249_4E473031  # "CPRING01"
HEADER = 64
SLOT_HEADER = 32
PREFIX = "camerapose-"


def shm_dir() -> Path:
    """CAMERAPOSE_SHM_DIR when set (e.g. a container whose /dev/shm is only 64 MB), else /dev/shm."""
    if os.environ.get("CAMERAPOSE_SHM_DIR"):
        return Path(os.environ["CAMERAPOSE_SHM_DIR"])
    return Path("/dev/shm") if Path("/dev/shm").is_dir() else Path(os.environ.get("TMPDIR", "/tmp"))


SHM_FIX = ("give it more (Docker: `docker run --shm-size=1g ...`), point CAMERAPOSE_SHM_DIR at a "
           "larger tmpfs, or lower capture.ring_slots")


def check_shm_dir() -> Path:
    """The folder of the rings (`shm_dir`); InputError, one line, if it is not a writable folder."""
    folder = shm_dir()
    name = f"CAMERAPOSE_SHM_DIR={folder}" if os.environ.get("CAMERAPOSE_SHM_DIR") else str(folder)
    if not folder.exists():
        why = "no such folder"
    elif not folder.is_dir():
        why = "not a folder"
    elif not os.access(folder, os.W_OK | os.X_OK):
        why = "not writable"
    else:
        return folder
    raise InputError(f"{name}: {why}; the frame rings need a writable folder, ideally on a tmpfs "
                     "(unset CAMERAPOSE_SHM_DIR to use /dev/shm)")


def space_error(needed: int, st: os.statvfs_result, folder: Path | str,
                what: str = "the frame rings") -> str | None:
    """The error line when `needed` bytes do not fit in the space a statvfs result `st` of `folder`
    leaves free (None when they fit)."""
    free = st.f_bavail * st.f_frsize
    if needed <= free:
        return None
    total = st.f_blocks * st.f_frsize
    return (f"not enough shared memory in {folder}: {what} needs {_mb(needed)}, {_mb(free)} free of "
            f"{_mb(total)}; {SHM_FIX}")


def _mb(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"  # as df -h and Docker's --shm-size count them


def ring_path(name: str) -> Path:
    return shm_dir() / name


def leftover_segments(run_id: str = "") -> list[Path]:
    """Ring files of a run (or of any run when run_id is empty) that still exist."""
    folder = shm_dir()
    return sorted(folder.glob(f"{PREFIX}{run_id}*")) if folder.is_dir() else []


class FrameRing:
    """One stream's frame ring; `create` (the capture process) or `attach` (readers)."""

    def __init__(self, path: Path, mm: mmap.mmap) -> None:
        self.path = path
        self._mm = mm
        head = np.frombuffer(mm, dtype=np.int64, count=8)
        if int(head[0]) != MAGIC:
            raise ValueError(f"{path}: not a frame ring")
        self._head = head
        self.slots, self.slot_bytes = int(head[1]), int(head[2])
        self.generation = int(head[4])
        meta = np.frombuffer(mm, dtype=np.int64, count=self.slots * 4, offset=HEADER)
        self._seq = meta.reshape(self.slots, 4)[:, 0]
        self._dims = np.frombuffer(mm, dtype=np.int32, count=self.slots * 8, offset=HEADER).reshape(
            self.slots, 8
        )
        self._t = np.frombuffer(mm, dtype=np.float64, count=self.slots * 4, offset=HEADER).reshape(
            self.slots, 4
        )
        data_off = _data_offset(self.slots)
        self._data = np.frombuffer(mm, dtype=np.uint8, count=self.slots * self.slot_bytes, offset=data_off)

    @classmethod
    def create(cls, name: str, slots: int, slot_bytes: int, first_index: int = 0,
               published: tuple[int, int] | None = None) -> FrameRing:
        """A new ring (replacing any old file of that name) whose first frame will be `first_index`;
        `published`: the stream's last published frame and the count so far (default: none).
        InputError (one line) when its folder is not usable or has no room for it."""
        folder = check_shm_dir()
        path = folder / name
        path.unlink(missing_ok=True)
        size = _data_offset(slots) + slots * slot_bytes
        what = f"a frame ring ({slots} frames of {_mb(slot_bytes)}; one per stream)"
        err = space_error(size, os.statvfs(folder), folder, what)
        if err:
            raise InputError(err)
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
        try:
            _reserve(fd, size)
            mm = mmap.mmap(fd, size)
        except OSError as e:
            path.unlink(missing_ok=True)
            if e.errno != errno.ENOSPC:
                raise
            # another ring took the space since the check above (and may have given it back since):
            # the same sentence as the check's, so one condition reads one way
            raise InputError(space_error(size, os.statvfs(folder), folder, what)
                             or f"not enough shared memory in {folder}: {what} needs {_mb(size)}, taken "
                                f"by other rings meanwhile; {SHM_FIX}") from None
        finally:
            os.close(fd)
        head = np.frombuffer(mm, dtype=np.int64, count=8)
        last, count = (first_index - 1, 0) if published is None else published
        head[:] = (MAGIC, slots, slot_bytes, first_index - 1, secrets.randbits(62), last, count, -1)
        np.frombuffer(mm, dtype=np.int64, count=slots * 4, offset=HEADER).reshape(slots, 4)[:, 0] = -2
        del head
        return cls(path, mm)

    @classmethod
    def attach(cls, name: str) -> FrameRing:
        path = ring_path(name)
        fd = os.open(path, os.O_RDWR)
        try:
            mm = mmap.mmap(fd, os.fstat(fd).st_size)
        finally:
            os.close(fd)
        return cls(path, mm)

    # -- writer ------------------------------------------------------------------------------
    def fits(self, frame: np.ndarray) -> bool:
        return frame.nbytes <= self.slot_bytes

    def wait_free(self, index: int, stop: Callable[[], bool], poll_s: float = 0.002) -> bool:
        """Offline mode: block until frame `index` may overwrite its slot. False if stopped."""
        while index - self.slots > int(self._head[3]):
            if stop():
                return False
            time.sleep(poll_s)
        return True

    def write(self, index: int, frame: np.ndarray, t: float, live: bool = False) -> bool:
        """Copy an HxWxC uint8 frame into slot index % slots. Live, False (nothing written: the frame
        is dropped) when that slot holds the frame a reader has pinned (`pin`); offline the slot is
        free by then (`wait_free`) and the frame is always written."""
        slot = index % self.slots
        pinned = int(self._head[7])
        if live and pinned not in (-1, index) and pinned % self.slots == slot:
            if int(self._seq[slot]) == pinned:
                return False
        self._seq[slot] = -1  # busy: a reader that sees this (or a newer index) drops the frame
        h, w = frame.shape[:2]
        c = frame.shape[2] if frame.ndim == 3 else 1
        start = slot * self.slot_bytes
        self._data[start : start + frame.nbytes] = frame.reshape(-1)
        self._dims[slot, 2:5] = (h, w, c)
        self._t[slot, 3] = t
        self._seq[slot] = index
        return True

    # -- readers -----------------------------------------------------------------------------
    def read(self, index: int) -> np.ndarray | None:
        """A copy of frame `index`, or None if it was overwritten (dropped)."""
        frame = self.view(index)
        if frame is None:
            return None
        frame = frame.copy()
        return frame if self.holds(index) else None

    def view(self, index: int) -> np.ndarray | None:
        """Frame `index` in place (read-only, no copy: a 1080p frame's copy is 1-3 ms), or None if it
        was overwritten. `pin` it first, so that a live writer leaves it alone; once done with it,
        check `holds(index)` and throw the work away if not (the seqlock's check after the work)."""
        slot = index % self.slots
        if int(self._seq[slot]) != index:
            return None
        h, w, c = (int(x) for x in self._dims[slot, 2:5])
        start = slot * self.slot_bytes
        frame = self._data[start : start + h * w * c].reshape((h, w, c) if c > 1 else (h, w))
        frame.flags.writeable = False
        return frame

    def pin(self, index: int) -> None:
        """One reader (the detect stage) works on frame `index` in place: a live writer skips the
        frame that would overwrite it. Pinning another frame (or -1) lets go of this one."""
        self._head[7] = index

    def holds(self, index: int) -> bool:
        """Frame `index` is still in its slot, untouched since it was written."""
        return int(self._seq[index % self.slots]) == index

    def release(self, index: int) -> None:
        """The last reader is done with frames up to `index` (offline-mode backpressure)."""
        if index > int(self._head[3]):
            self._head[3] = index

    def newest(self) -> int:
        """Index of the newest frame in the ring (-1 if none)."""
        return max(-1, int(self._seq.max()))

    @property
    def released(self) -> int:
        return int(self._head[3])

    def mark_published(self, index: int) -> None:
        """The publish stage has published frame `index` (a store each: a process killed right
        after the send leaves either this frame or the one before marked, never a torn value)."""
        self._head[6] += 1
        self._head[5] = index

    @property
    def published(self) -> int:
        """The stream's last published frame (first index - 1 before any)."""
        return int(self._head[5])

    @property
    def published_count(self) -> int:
        """How many frames of the stream were published, over every life of the publish stage."""
        return int(self._head[6])

    def close(self) -> None:
        # numpy views keep exported buffers alive; drop them before closing the map.
        self._head = self._seq = self._dims = self._t = self._data = None  # type: ignore[assignment]
        try:
            self._mm.close()
        except BufferError:
            pass  # a view is still alive somewhere; the map is freed with it

    def unlink(self) -> None:
        self.path.unlink(missing_ok=True)


def _reserve(fd: int, size: int) -> None:
    """Size the file and allocate its pages now: a tmpfs that runs out raises ENOSPC here instead
    of sending SIGBUS to whichever process first touches a page it cannot back."""
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as e:
        if e.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
            raise
        os.ftruncate(fd, size)  # a file system without fallocate: sparse, as before


def _data_offset(slots: int) -> int:
    off = HEADER + SLOT_HEADER * slots
    return (off + 63) // 64 * 64
