"""The capture stage: one source -> its shared-memory ring + a FrameNotice per frame on `frames`.

A restarted capture goes on in the ring its previous life made. Offline, a seekable source (file,
folder) reads again every frame after the stream's last published one: the whole pipeline was
restarted from there. Else it goes on after the newest frame its previous life read."""

from __future__ import annotations

import os
import time

from camerapose.runtime import graph
from camerapose.runtime.frame_ring import FrameRing
from camerapose.runtime.protocol import ControlKind, Count, EndOfInput, FrameNotice
from camerapose.runtime.stages.base import POLL_MS, Stage, log
from camerapose.runtime.ticks import elapsed_ms


class CaptureStage(Stage):
    """One source -> its shared-memory ring + a small message per frame on `frames`."""

    def _waiting(self) -> bool:
        """While blocked on a full ring (offline mode): keep the heartbeat going; stop if told."""
        self.heartbeat()
        return self.stop

    def run(self) -> None:
        from camerapose.runtime.sources import open_source
        from camerapose.runtime.sources.base import SourceSpec
        from camerapose.runtime.sources.live import LiveReader, Wait

        spec: SourceSpec = next(s for s in self.cfg.sources if s.name == self.spec.stream)
        source = open_source(spec, self.cfg.capture)  # InputError -> fatal
        name = graph.ring_name(self.run_id, spec.name)
        ring = _old_ring(name)
        first, prev = 0, -1
        if ring is not None:
            first, prev = resume_point(ring.published, ring.newest(), source.seekable, self.offline)
            log.info("resuming at frame %d", first)
            if prev > ring.published:
                ring.release(prev)  # frames that will never be published: their slots are free
        source.resume_at(first)
        live = None if self.offline else LiveReader(source)
        pinned_out = 0  # live frames not written: the slot held the frame detect works on in place
        self.tell(ControlKind.READY)
        try:
            while not self.stop:
                self.heartbeat()
                if live is None:
                    frame = source.read()
                else:
                    got = live.get(POLL_MS / 1000)
                    if got is Wait.TIMEOUT:
                        continue
                    frame = None if got is Wait.ENDED else got
                self.counters[Count.CORRUPT] = source.corrupt
                if live is not None:
                    self.counters[Count.DROPPED] = live.dropped + pinned_out
                if frame is None:
                    self.send("frames", EndOfInput(spec.name, prev), drop_ok=False)
                    self.tell(ControlKind.SOURCE_END, stream=spec.name)
                    break
                img = frame.image
                if ring is None or not ring.fits(img):
                    ring = _new_ring(ring, name, self.cfg.capture.ring_slots, img.nbytes, frame.index)
                if self.offline and not ring.wait_free(frame.index, self._waiting):
                    break
                t0 = time.monotonic()
                if not ring.write(frame.index, img, frame.t_capture, live=not self.offline):
                    pinned_out += 1  # its slot holds the frame detect is working on: counted next turn
                    continue
                t1 = time.monotonic()
                notice = FrameNotice(
                    spec.name,
                    frame.index,
                    ring.generation,
                    frame.t_capture,
                    frame.t_wall,
                    size=(img.shape[1], img.shape[0]),
                    read_ms=frame.read_ms + elapsed_ms(t0, t1),
                    t_sent=t1,
                    t_media=frame.t_media,
                    prev=prev,
                    fps=source.fps,
                )
                sent = self.send("frames", notice, drop_ok=not self.offline)
                self.counters[Count.FRAMES if sent else Count.QUEUE_FULL] += 1
                prev = frame.index
            # Keep the ring until told to stop: readers may still be reading its last frames.
            while not self.stop:
                self.heartbeat()
                time.sleep(POLL_MS / 1000)
        finally:
            if live is not None:
                live.close()
            source.close()
            if ring is not None:
                ring.close()
                if os.getppid() != int(os.environ.get("CAMERAPOSE_SUPERVISOR", os.getppid())):
                    ring.unlink()  # the supervisor is gone: nobody else will


def resume_point(published: int, newest: int, seekable: bool, offline: bool) -> tuple[int, int]:
    """Where a restarted capture goes on -> (the first frame index to read, the `prev` of that frame).

    published: the stream's last published frame; newest: the newest frame the previous life put in
    the ring. Offline, a seekable source reads again every frame after `published` (the restarted
    pipeline does them again). Else it goes on after `newest`, and its first frame's `prev` is
    `newest`: frames published+1..newest were read but will never be published, and publish says so."""
    if offline and seekable:
        return published + 1, published
    return newest + 1, newest


def _old_ring(name: str) -> FrameRing | None:
    """The ring of the capture's previous life (None in its first life)."""
    try:
        return FrameRing.attach(name)
    except (FileNotFoundError, ValueError):
        return None


def _new_ring(old: FrameRing | None, name: str, slots: int, nbytes: int, first: int) -> FrameRing:
    """A ring for frames of `nbytes` from index `first` on (replacing `old`, whose mark of the
    stream's last published frame it keeps)."""
    published = None
    if old is not None:
        published = (old.published, old.published_count)
        old.close()
    return FrameRing.create(name, slots, nbytes, first, published)
