"""The studio's swappable engine parts inside the real Engine: a source or renderer replaced while it runs, one
that fails to start leaving the old one running, a replaced source closed only once its run has returned, a file
that ends leaving the engine idle, not ended."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from conftest import ListPublisher, RateSource, wait_until
from facecast.engine.loop import Engine
from facecast.engine.render.base import Renderer
from facecast.engine.retarget import Retargeter
from facecast.engine.sources import SourceError
from facecast.engine.studio.swap import SwitchableRenderer, SwitchableRetargeter, SwitchableSource
from facecast.engine.types import PixelFormat


class TaggedSource(RateSource):
    """A RateSource whose samples carry ``tag`` as their source name, and that records its lifecycle."""

    def __init__(self, tag: str, events: list, *, fail_open: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.name, self.events, self.fail_open = tag, events, fail_open

    def open(self) -> None:
        if self.fail_open:
            raise SourceError(f"{self.name}: port in use")
        self.events.append(f"open {self.name}")

    def run(self, emit, stop) -> None:
        try:
            super().run(emit, stop)
        finally:
            self.events.append(f"run returned {self.name}")

    def close(self) -> None:
        self.events.append(f"close {self.name}")
        super().close()


class SlowRenderer(Renderer):
    pixel_format = PixelFormat.RGB8

    def __init__(self, name: str, delay_s: float, events: list) -> None:
        self.name, self.delay_s, self.events = name, delay_s, events
        self.drawing = False

    def render(self, sample, flame):
        self.drawing = True
        time.sleep(self.delay_s)
        self.drawing = False
        return np.zeros((4, 4, 3), np.uint8)

    def close(self) -> None:
        self.events.append(f"close {self.name} while drawing={self.drawing}")


@pytest.fixture
def running():
    """An Engine on swappable parts, running on its own thread; yields (source, renderer, publisher, events)."""
    events: list = []
    source = SwitchableSource(TaggedSource("a", events, rate_hz=200), spec="a")
    renderer = SwitchableRenderer(SlowRenderer("r1", 0.005, events))
    publisher = ListPublisher()
    engine = Engine(source=source, retargeter=SwitchableRetargeter(Retargeter(), profile=None), renderer=renderer,
                    publisher=publisher)
    thread = threading.Thread(target=engine.run)
    thread.start()
    try:
        yield source, renderer, publisher, events
    finally:
        engine.stop()
        thread.join(10)
    assert not thread.is_alive()


def sources_seen(publisher: ListPublisher, since: int = 0) -> set[str]:
    return {f.sample.source for f in publisher.frames[since:]}


def test_a_source_is_replaced_while_the_engine_runs(running):
    source, _, publisher, events = running
    assert wait_until(lambda: "a" in sources_seen(publisher))
    source.switch(TaggedSource("b", events, rate_hz=200), spec="b")
    mark = len(publisher.frames)
    assert wait_until(lambda: len(publisher.frames) > mark + 20)
    assert sources_seen(publisher, mark + 5) == {"b"}
    assert events.index("run returned a") < events.index("close a")  # closed only after its run returned
    assert source.spec == "b"


def test_a_source_that_fails_to_open_leaves_the_old_one_running(running):
    source, _, publisher, events = running
    with pytest.raises(SourceError, match="port in use"):
        source.switch(TaggedSource("bad", events, fail_open=True), spec="bad")
    mark = len(publisher.frames)
    assert wait_until(lambda: len(publisher.frames) > mark + 20)
    assert sources_seen(publisher, mark) == {"a"} and source.spec == "a" and "close a" not in events


def test_a_source_that_ends_leaves_the_engine_idle_until_the_next(running):
    source, _, publisher, events = running
    source.switch(TaggedSource("file", events, rate_hz=500, count=10), spec="file")
    assert wait_until(lambda: source.exhausted)
    time.sleep(0.3)
    mark = len(publisher.frames)
    time.sleep(0.3)
    assert len(publisher.frames) == mark  # idle, not ended
    source.switch(TaggedSource("c", events, rate_hz=200), spec="c")
    assert wait_until(lambda: "c" in sources_seen(publisher, mark)) and not source.exhausted


def test_pause_and_resume(running):
    source, _, publisher, events = running
    source.pause()
    assert not source.running and "close a" in events
    time.sleep(0.2)
    mark = len(publisher.frames)
    time.sleep(0.3)
    assert len(publisher.frames) == mark
    source.switch(TaggedSource("a2", events, rate_hz=200), spec="a2")
    assert wait_until(lambda: "a2" in sources_seen(publisher, mark))


def test_a_renderer_is_replaced_after_the_frame_being_drawn(running):
    """The old renderer is closed only when no frame is being drawn with it (the switch waits for that frame)."""
    _, renderer, publisher, events = running
    slow = SlowRenderer("r2", 0.05, events)
    renderer.switch(slow)
    assert wait_until(lambda: len(publisher.frames) > 5)
    renderer.switch(SlowRenderer("r3", 0.001, events))
    assert "close r1 while drawing=False" in events and "close r2 while drawing=False" in events
    assert renderer.name == "r3"
