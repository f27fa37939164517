"""The annotate stage: published messages + their frames (from the rings) -> video and/or window."""

from __future__ import annotations

from camerapose.runtime import graph
from camerapose.runtime.protocol import ControlKind, Count, EndOfInput
from camerapose.runtime.stages.base import RingReader, Stage
from camerapose.runtime.wire import schema


class AnnotateStage(Stage):
    """Published messages + their frames (from the ring) -> annotated video and/or a window."""

    def run(self) -> None:
        from camerapose.runtime.draw.video import Annotator

        out = self.cfg.output
        annot = Annotator(out.annotate, out.show, out.view3d, out.rerun)
        rings = RingReader(self.run_id)
        releases = graph.last_frame_reader(self.cfg) == "annotate"
        if releases:
            rings.release_all([src.name for src in self.cfg.sources])
        self.tell(ControlKind.READY)
        try:
            while not self.stop:
                self.heartbeat()
                for m in self.recv_all("annotate"):
                    if isinstance(m, EndOfInput):
                        self.tell(ControlKind.END_OF_INPUT, stream=m.stream)
                        continue
                    msg = schema.decode(m.payload)
                    if schema.is_world(msg):  # no image: rerun's world space only
                        annot.add(msg, None)
                        continue
                    ring = rings.ring(msg["stream"])
                    img = ring.read(msg["frame"]) if ring is not None else None
                    if img is None:
                        self.counters[Count.DROPPED] += 1
                        continue
                    annot.add(msg, img)
                    if releases:
                        ring.release(msg["frame"])
                    self.counters[Count.FRAMES] += 1
        finally:
            annot.close()
            rings.close()
