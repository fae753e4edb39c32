"""One ``FramePublisher`` that hands each frame to several outputs (the ZeroMQ publisher, a virtual camera,
the studio's browsers)."""

from __future__ import annotations

from typing import Optional, Sequence

from facecast.engine.types import Frame


class Fanout:
    """Publishes each frame to every output of ``outputs`` (each with ``publish(frame)`` and ``close()``), in
    order. An output that raises does not keep the frame from the others: the first error is raised after
    all have had the frame, so the loop counts it. Returns the first output's return value (the ZeroMQ
    publisher's ``seq``)."""

    def __init__(self, outputs: Sequence) -> None:
        if not outputs:
            raise ValueError("a fan-out needs at least one output")
        self.outputs = tuple(outputs)

    def publish(self, frame: Frame) -> Optional[int]:
        first_error: Optional[Exception] = None
        result = None
        for k, output in enumerate(self.outputs):
            try:
                value = output.publish(frame)
            except Exception as exc:
                first_error = first_error or exc
                continue
            if k == 0:
                result = value
        if first_error is not None:
            raise first_error
        return result

    def close(self) -> None:
        """Close every output (all of them, even if one raises; the first error is raised at the end)."""
        first_error: Optional[Exception] = None
        for output in self.outputs:
            try:
                output.close()
            except Exception as exc:
                first_error = first_error or exc
        if first_error is not None:
            raise first_error
