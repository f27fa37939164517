"""The capture stage: one source -> its shared-memory ring + a FrameNotice per frame on `frames`."""

from __future__ import annotations

import os
import time

from camerapose.runtime import graph
from camerapose.runtime.frame_ring import FrameRing
from camerapose.runtime.protocol import ControlKind, Count, EndOfInput, FrameNotice
from camerapose.runtime.stages.base import POLL_MS, Stage, elapsed_ms, log


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
        first = _resume_index(name)
        source.resume_at(first)
        ring: FrameRing | None = None
        live = None if self.offline else LiveReader(source)
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
                    self.counters[Count.DROPPED] = live.dropped
                if frame is None:
                    self.send("frames", EndOfInput(spec.name), drop_ok=False)
                    self.tell(ControlKind.SOURCE_END, stream=spec.name)
                    break
                img = frame.image
                if ring is None or not ring.fits(img):
                    ring = _new_ring(ring, name, self.cfg.capture.ring_slots, img.nbytes, frame.index)
                if self.offline and not ring.wait_free(frame.index, self._waiting):
                    break
                t0 = time.monotonic()
                ring.write(frame.index, img, frame.t_capture)
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
                )
                sent = self.send("frames", notice, drop_ok=not self.offline)
                self.counters[Count.FRAMES if sent else Count.QUEUE_FULL] += 1
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


def _resume_index(name: str) -> int:
    """A restarted capture goes on after the newest frame its previous life put in the ring."""
    try:
        old = FrameRing.attach(name)
    except (FileNotFoundError, ValueError):
        return 0  # first life
    try:
        nxt = old.newest() + 1
    finally:
        old.close()
    nxt = max(0, nxt)
    log.info("resuming at frame %d", nxt)
    return nxt


def _new_ring(old: FrameRing | None, name: str, slots: int, nbytes: int, first: int) -> FrameRing:
    if old is not None:
        old.close()
    return FrameRing.create(name, slots, nbytes, first)
