import time

import msgpack
import numpy as np
import pytest
import zmq
import zmq.auth

from conftest import free_port
from facecast.bridge.protocol import TOPIC_FRAME, TOPIC_PARAMS, encode_params
from facecast.bridge.publisher import EndpointError, Publisher, is_loopback_endpoint
from facecast.bridge.receiver import Receiver
from facecast.engine.types import FaceSample, Frame, PixelFormat


def frame(i=0):
    w = np.zeros(52, np.float32)
    w[17] = i / 100
    return Frame(sample=FaceSample(capture_wall_ns=time.time_ns(), weights=w, source="t"),
                 pixels=np.full((16, 16, 4), i % 256, np.uint8), pixel_format=PixelFormat.RGBA8)


def pump(pub, rx, n=20, timeout_s=3.0):
    """Publish until ``n`` messages arrived at ``rx`` (or time out); returns them."""
    got = []
    deadline = time.monotonic() + timeout_s
    i = 0
    while len(got) < n and time.monotonic() < deadline:
        pub.publish(frame(i))
        i += 1
        msg = rx.recv(0.02)
        if msg is not None:
            got.append(msg)
    return got


@pytest.mark.parametrize("endpoint,loop", [
    ("tcp://127.0.0.1:5570", True), ("tcp://localhost:1", True), ("tcp://[::1]:5", True),
    ("tcp://127.3.0.1:5", True), ("ipc:///tmp/x", True), ("tcp://0.0.0.0:5570", False),
    ("tcp://*:5570", False), ("tcp://192.168.1.4:5570", False), ("tcp://eth0:5570", False)])
def test_loopback_detection(endpoint, loop):
    assert is_loopback_endpoint(endpoint) is loop


def test_remote_bind_needs_opt_in():
    with pytest.raises(EndpointError, match="--allow-remote"):
        Publisher("tcp://0.0.0.0:5999")
    with pytest.raises(EndpointError):
        Publisher("udp://127.0.0.1:5")


def test_params_only_subscriber_never_gets_pixels(endpoint):
    with Publisher(endpoint) as pub, Receiver(endpoint, topics=(TOPIC_PARAMS,)) as params, \
            Receiver(endpoint, topics=(TOPIC_FRAME,)) as pictures:
        got = pump(pub, params, 20)
        assert len(got) == 20
        assert all(m.topic == TOPIC_PARAMS and m.pixels is None for m in got)
        picture = pictures.recv(2.0)
        assert picture is not None and picture.pixels.shape == (16, 16, 4)


def test_params_and_picture_share_seq(endpoint):
    with Publisher(endpoint) as pub, Receiver(endpoint, topics=(TOPIC_PARAMS, TOPIC_FRAME)) as rx:
        got = pump(pub, rx, 30)
    by_seq = {}
    for m in got:
        by_seq.setdefault(m.seq, []).append(m.topic)
    assert any(sorted(t) == [TOPIC_FRAME, TOPIC_PARAMS] for t in by_seq.values())


def test_garbage_is_counted_and_skipped(endpoint):
    ctx = zmq.Context.instance()
    raw = ctx.socket(zmq.PUB)
    raw.bind(endpoint)
    try:
        with Receiver(endpoint, topics=(b"",)) as rx:
            def send_round(seq: int) -> None:
                raw.send_multipart([TOPIC_FRAME, b"\xc1garbage", b""])
                raw.send_multipart([b"junk"])
                raw.send_multipart([TOPIC_PARAMS, msgpack.packb({"v": 1, "v_minor": 0}), b""])
                raw.send_multipart([TOPIC_PARAMS, msgpack.packb({"v": 2, "v_minor": 0}), b""])
                raw.send_multipart(encode_params(frame(), seq=seq, t_send_ns=0))

            def round_trip(seq: int):
                """Send rounds until the round's valid message ``seq`` comes back (None after 3 s)."""
                deadline = time.monotonic() + 3
                got = None
                while (got is None or got.seq != seq) and time.monotonic() < deadline:
                    send_round(seq)
                    got = rx.recv(0.05)
                return got

            # until the subscription is in place PUB drops what it sends, and it can take effect within a round (the
            # garbage dropped, the valid message through): once one came through, every later round arrives whole
            assert round_trip(1) is not None
            assert round_trip(2) is not None
            assert rx.rejected["not-msgpack"] >= 1 and rx.rejected["frame-count"] >= 1
            assert rx.rejected["missing-key"] >= 1 and rx.rejected["version"] >= 1
            assert rx.version_error is not None and "update" in str(rx.version_error)
    finally:
        raw.close(0)


def test_slow_subscriber_does_not_grow_memory(endpoint):
    """A subscriber that reads nothing: the publisher keeps sending without blocking, and
    once the reader wakes it gets recent frames, not the whole backlog."""
    with Publisher(endpoint) as pub, Receiver(endpoint) as rx:
        assert pump(pub, rx, 1)
        t0 = time.monotonic()
        for i in range(2000):
            pub.publish(frame(i))
        assert time.monotonic() - t0 < 5  # never blocked on the slow reader
        burst_end = pub.next_seq
        stale, live = [], None
        deadline = time.monotonic() + 5
        while live is None and time.monotonic() < deadline:  # the stream goes on
            pub.publish(frame(1))
            while (m := rx.recv(0.005)) is not None:
                if m.seq >= burst_end:
                    live = m
                    break
                stale.append(m.seq)
    # What waited for the slow reader is bounded by the high-water marks and the fixed
    # socket buffers (256 KiB each, which Linux doubles: ~1 MiB, here ~1.4 KiB per
    # message), not by the 2000 sent; right after it live frames arrive.
    assert live is not None
    assert 0 < len(stale) < 1000, len(stale)


@pytest.mark.skipif(not zmq.has("curve"), reason="libzmq built without CURVE")
def test_curve_client_without_key_receives_nothing(tmp_path):
    server_public, server_secret = zmq.auth.create_certificates(str(tmp_path), "server")
    # The opt-in path a remote user takes; the test itself stays on loopback.
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    with Publisher(endpoint, allow_remote=True, curve_secret_file=server_secret) as pub:
        server_key = open(server_public).read().split('public-key = "')[1].split('"')[0].encode()
        with Receiver(endpoint) as plain, Receiver(endpoint, curve_server_key=b"0" * 40) as wrong, \
                Receiver(endpoint, curve_server_key=server_key) as good:
            got = pump(pub, good, 10)
            assert len(got) == 10
            assert plain.recv(0.3) is None
            assert wrong.recv(0.3) is None


@pytest.mark.skipif(not zmq.has("curve"), reason="libzmq built without CURVE")
def test_curve_client_allow_list(tmp_path):
    servers, allowed, others = (tmp_path / d for d in ("server", "allowed", "others"))
    for d in (servers, allowed, others):
        d.mkdir()
    server_public, server_secret = zmq.auth.create_certificates(str(servers), "server")
    ok_public, ok_secret = zmq.auth.create_certificates(str(allowed), "ok")
    bad_public, bad_secret = zmq.auth.create_certificates(str(others), "bad")
    from facecast.bridge.publisher import load_curve_keys
    skey, _ = load_curve_keys(server_public)
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    with Publisher(endpoint, curve_secret_file=server_secret, curve_clients_dir=allowed) as pub:
        ok_keys = load_curve_keys(ok_secret)
        bad_keys = load_curve_keys(bad_secret)
        with Receiver(endpoint, curve_server_key=skey, curve_client_keys=ok_keys) as ok, \
                Receiver(endpoint, curve_server_key=skey, curve_client_keys=bad_keys) as bad:
            assert len(pump(pub, ok, 5)) == 5
            assert bad.recv(0.3) is None
