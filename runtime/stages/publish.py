"""The publish stage: Poses -> the public pose messages on the PUB socket (and to annotate)."""

from __future__ import annotations

import time

from camerapose.runtime import graph
from camerapose.runtime.files.writers import MessageWriter
from camerapose.runtime.protocol import ControlKind, Count, EndOfInput, Poses
from camerapose.runtime.stages.base import RingReader, Stage, log
from camerapose.runtime.ticks import in_order, publish_one
from camerapose.runtime.wire import schema

# Offline: how long a frame may wait for ZeroMQ to take it before it is marked published anyway.
HANDOFF_S = 0.2


def _open_save(path: str) -> MessageWriter | None:
    """The writer of `output.save` (format by extension), or None without one."""
    if not path:
        return None
    from camerapose.runtime.files.save import open_writer

    return open_writer(path)


class PublishStage(Stage):
    """Poses -> the public pose messages on the ZeroMQ PUB socket (never waits for subscribers).

    Each published frame is marked in its stream's ring (`published`: where a restarted offline
    pipeline goes on) and, unless an annotate stage still reads it, its slot released: offline, a
    frame stays in its ring until it is published. Offline, frames are published once and in
    order, and a gap is reported to the supervisor (LOST) as soon as it shows. With `output.save`,
    each published message is also written to that file, decoded from the very bytes sent."""

    def run(self) -> None:
        from camerapose.runtime.wire.publisher import Publisher

        pub = Publisher(self.cfg.publish, self.ctx)  # InputError (port in use...) -> fatal
        saver = _open_save(self.cfg.output.save)
        forward = "annotate" in self.outs
        final = graph.final_stage(self.cfg) == "publish"
        releases = graph.last_frame_reader(self.cfg) == "publish"
        rings = RingReader(self.run_id)
        last: dict[str, int] = {}  # stream -> its last published frame
        self.tell(ControlKind.READY)
        try:
            while not self.stop:
                self.heartbeat()
                if pub.poll_subscriptions():
                    self.tell(ControlKind.SUBSCRIBER, subscribers=pub.subscriptions)
                self.counters[Count.GARBAGE] = pub.garbage
                for m in self.recv_all("poses"):
                    ring = rings.ring(m.stream)
                    if self.offline:
                        if m.stream not in last:
                            last[m.stream] = ring.published if ring is not None else -1
                        go, lost = in_order(last[m.stream], m)
                        if lost is not None:
                            log.error("stream %s: frames %d-%d were lost", m.stream, *lost)
                            self.tell(ControlKind.LOST, stream=m.stream, first=lost[0], last=lost[1])
                            last[m.stream] = lost[1]
                        if isinstance(m, Poses) and not go:
                            continue  # published already
                    if isinstance(m, EndOfInput):
                        if forward:
                            self.send("annotate", m, drop_ok=False)
                        if final:
                            self.tell(ControlKind.END_OF_INPUT, stream=m.stream)
                        continue
                    tick = publish_one(m, time.monotonic())
                    published = tick.out[0]
                    pub.send(m.stream, published.payload, HANDOFF_S if self.offline else 0.0)
                    if saver is not None:  # a full disk: InputError -> fatal, the run stops (no restarts)
                        saver.write(schema.decode(published.payload))
                    last[m.stream] = m.frame
                    if ring is not None:
                        ring.mark_published(m.frame)
                        if releases:
                            ring.release(m.frame)
                    self.record(tick)
                    if forward:
                        self.send("annotate", published, drop_ok=not self.offline)
        finally:
            if saver is not None:
                saver.close()
            pub.close()
            rings.close()
