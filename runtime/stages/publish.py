"""The publish stage: Poses -> the public pose messages on the PUB socket (and to annotate)."""

from __future__ import annotations

import time

from camerapose.runtime import graph
from camerapose.runtime.protocol import ControlKind, Count, EndOfInput, Poses, Published, Timing
from camerapose.runtime.stages.base import Stage, Tick, elapsed_ms
from camerapose.runtime.wire import schema


def publish_one(m: Poses, now: float) -> Tick:
    """One frame's Poses, published at `now` (monotonic s) -> Tick with its Published payload.

    Adds the last two timings (wait_publish, total = glass-to-publish) and samples every timing:
    the supervisor's latency figures come from here."""
    timings = {
        **m.timings,
        Timing.WAIT_PUBLISH: elapsed_ms(m.t_sent, now),
        Timing.TOTAL: elapsed_ms(m.t_capture, now),
    }
    tick = Tick([Published(schema.pack(m.wire(now, timings)))])
    tick.counts[Count.FRAMES] += 1
    tick.counts[Count.PERSONS] += len(m.persons)
    for k, v in timings.items():
        tick.samples[k].append(v)
    return tick


class PublishStage(Stage):
    """Poses -> the public pose messages on the ZeroMQ PUB socket (never waits for subscribers)."""

    def run(self) -> None:
        from camerapose.runtime.wire.publisher import Publisher

        pub = Publisher(self.cfg.publish, self.ctx)  # InputError (port in use...) -> fatal
        forward = "annotate" in self.outs
        final = graph.final_stage(self.cfg) == "publish"
        self.tell(ControlKind.READY)
        try:
            while not self.stop:
                self.heartbeat()
                if pub.poll_subscriptions():
                    self.tell(ControlKind.SUBSCRIBER, subscribers=pub.subscriptions)
                self.counters[Count.GARBAGE] = pub.garbage
                for m in self.recv_all("poses"):
                    if isinstance(m, EndOfInput):
                        if forward:
                            self.send("annotate", m, drop_ok=False)
                        if final:
                            self.tell(ControlKind.END_OF_INPUT, stream=m.stream)
                        continue
                    tick = publish_one(m, time.monotonic())
                    published = tick.out[0]
                    pub.send(m.stream, published.payload)
                    self.record(tick)
                    if forward:
                        self.send("annotate", published, drop_ok=not self.offline)
        finally:
            pub.close()
