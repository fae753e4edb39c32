"""Network sources: golden packets over real loopback UDP, through the real loop and publisher."""

import json
import logging
import socket
import threading
import time

import numpy as np
import pytest
from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message_builder import OscMessageBuilder

from conftest import free_port, wait_until
from facecast.bridge.protocol import TOPIC_PARAMS
from facecast.bridge.publisher import Publisher
from facecast.bridge.receiver import Receiver
from facecast.engine.loop import Engine, LoopConfig
from facecast.engine.retarget import Retargeter
from facecast.engine.sources import SourceError, open_source
from facecast.engine.sources.base import Rejection
from facecast.engine.sources.ifacialmocap import HANDSHAKE, IFacialMocapSource, parse_ifacialmocap
from facecast.engine.sources.livelink import LiveLinkSource, encode_livelink, parse_livelink
from facecast.engine.sources.vmc import VmcSource, VmcState, parse_vmc, quaternion_to_yaw_pitch_roll
from facecast.engine.sources.vts import VtsSource, parse_vts
from facecast.engine.types import arkit_index

JAW, BLINK_L, SMILE_R = arkit_index("JawOpen"), arkit_index("EyeBlinkLeft"), arkit_index("MouthSmileRight")


def free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Session:
    """A source running in the real Engine with a real Publisher; a params receiver."""

    def __init__(self, source):
        self.endpoint = f"tcp://127.0.0.1:{free_port()}"
        self.source = source
        self.rx = Receiver(self.endpoint, topics=(TOPIC_PARAMS,))
        self.engine = Engine(source=source, retargeter=Retargeter(), renderer=None,
                             publisher=Publisher(self.endpoint), config=LoopConfig(duration_s=20))
        self.thread = threading.Thread(target=self.engine.run)
        self.thread.start()
        assert wait_until(lambda: getattr(source, "_sock", None) is not None, 5)
        self.port = source.local_port

    def send_until_received(self, send, predicate=lambda m: True, timeout_s=5.0):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            send()
            msg = self.rx.recv(0.05)
            if msg is not None and predicate(msg):
                return msg
        raise AssertionError("no matching message arrived")

    def close(self):
        self.engine.stop()
        self.thread.join(5)
        self.rx.close()
        assert not self.thread.is_alive()


def udp_sender():
    return socket.socket(socket.AF_INET, socket.SOCK_DGRAM)


# --------------------------------------------------------------------------- #
# Live Link Face


def golden_weights():
    w = np.zeros(52, np.float32)
    w[JAW], w[BLINK_L], w[SMILE_R] = 0.75, 1.0, 0.25
    return w


def test_livelink_golden_packet_parses():
    pkt = encode_livelink(weights=golden_weights(), head_rad=(0.1, -0.2, 0.05), eye_left_rad=(0.01, 0.02, 0),
                          subject="Alice")
    assert pkt[0] == 6 and len(pkt) == 1 + 4 + 13 + 4 + 5 + 16 + 1 + 61 * 4
    name, s = parse_livelink(pkt, received_ns=5)
    assert name == "Alice" and s.capture_wall_ns == 5
    np.testing.assert_array_equal(s.weights, golden_weights())
    np.testing.assert_allclose(s.head_rad, [0.1, -0.2, 0.05], atol=1e-6)


def test_livelink_end_to_end_with_subject_filter_and_version_report(caplog):
    session = Session(LiveLinkSource(host="127.0.0.1", port=0, subject="Alice"))
    tx = udp_sender()
    try:
        addr = ("127.0.0.1", session.port)
        other = encode_livelink(weights=np.full(52, 0.5), subject="Bob")
        good = encode_livelink(weights=golden_weights(), head_rad=(0.1, -0.2, 0.05), subject="Alice")
        newer = bytearray(good)
        newer[0] = 7
        with caplog.at_level(logging.WARNING):
            def send():
                tx.sendto(other, addr)
                tx.sendto(bytes(newer), addr)
                tx.sendto(b"\x06garbage", addr)
                tx.sendto(good, addr)
            msg = session.send_until_received(send)
            for _ in range(5):
                send()
            time.sleep(0.2)
        np.testing.assert_allclose(msg.arkit, golden_weights())
        np.testing.assert_allclose(msg.head_rad, [0.1, -0.2, 0.05], atol=1e-6)
        assert msg.source == "livelink"
        rejected = session.source.rejections.as_dict()
        assert rejected["other-subject"] >= 1 and rejected["bad-version"] >= 1 and rejected["bad-length"] >= 1
        assert caplog.text.count("packet version 7") == 1  # reported once
    finally:
        tx.close()
        session.close()


def test_livelink_spec_and_port_in_use():
    blocker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    blocker.bind(("127.0.0.1", 0))
    port = blocker.getsockname()[1]
    try:
        src = open_source(f"livelink:127.0.0.1:{port}")
        with pytest.raises(SourceError, match="in use"):
            src.open()
        src.close()
    finally:
        blocker.close()
    src = open_source("livelink:")
    assert (src._host, src._port) == ("127.0.0.1", 11111)


def test_runner_stops_promptly_and_survives_garbage():
    src = LiveLinkSource(host="127.0.0.1", port=0)
    src.open()
    got = []
    stop = threading.Event()
    t = threading.Thread(target=src.run, args=(got.append, stop))
    t.start()
    tx = udp_sender()
    for junk in (b"", b"\x00" * 3, b"\xff" * 20000, bytes(range(256))):
        tx.sendto(junk, ("127.0.0.1", src.local_port))
    tx.sendto(encode_livelink(weights=golden_weights()), ("127.0.0.1", src.local_port))
    assert wait_until(lambda: len(got) == 1, 3)
    t0 = time.monotonic()
    stop.set()
    t.join(2)
    assert not t.is_alive() and time.monotonic() - t0 < 0.5
    src.close()
    src.close()
    tx.close()
    assert src.rejections.total() >= 3


# --------------------------------------------------------------------------- #
# iFacialMocap

IFM_TEXT = ("mouthSmile_R-25|eyeBlink_L-100|jawOpen-75|hapihapi-0|"
            "=head#-10.0,20.0,5.0,0.01,-0.02,0.3|rightEye#3.0,-2.0,0.0|leftEye#4.0,-1.0,0.0|")


def test_ifacialmocap_golden_text():
    s = parse_ifacialmocap(IFM_TEXT.encode(), received_ns=1)
    np.testing.assert_allclose(s.weights, golden_weights(), atol=1e-6)
    np.testing.assert_allclose(s.head_rad, np.radians([20.0, -10.0, 5.0]), atol=1e-6)  # yaw=ry, pitch=rx
    np.testing.assert_allclose(s.eye_left_rad, np.radians([-1.0, 4.0, 0.0]), atol=1e-6)
    shuffled = "|".join(reversed(IFM_TEXT.split("|")))
    np.testing.assert_allclose(parse_ifacialmocap(shuffled.encode(), received_ns=1).weights, s.weights)
    assert isinstance(parse_ifacialmocap(b"jawOpen-abc|", received_ns=1), Rejection)
    assert isinstance(parse_ifacialmocap(b"=head#1,2,3|", received_ns=1), Rejection)
    assert isinstance(parse_ifacialmocap(b"\xff\xfe", received_ns=1), Rejection)


def test_ifacialmocap_handshake_and_stream():
    phone = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    phone.bind(("127.0.0.1", 0))
    phone.settimeout(3)
    session = Session(IFacialMocapSource(phone_host="127.0.0.1", port=0, phone_port=phone.getsockname()[1]))
    try:
        hello, source_addr = phone.recvfrom(1024)
        assert hello == HANDSHAKE
        assert source_addr[1] == session.port  # sent from the port the data must come back to
        msg = session.send_until_received(lambda: phone.sendto(IFM_TEXT.encode(), source_addr))
        np.testing.assert_allclose(msg.arkit, golden_weights(), atol=1e-6)
        np.testing.assert_allclose(msg.head_rad, np.radians([20.0, -10.0, 5.0]), atol=1e-5)
    finally:
        session.close()
        phone.close()


# --------------------------------------------------------------------------- #
# VMC


def osc(address, *args):
    b = OscMessageBuilder(address)
    for a in args:
        b.add_arg(a)
    return b.build()


def bundle(*messages):
    b = OscBundleBuilder(IMMEDIATELY)
    for m in messages:
        b.add_content(m)
    return b.build().dgram


def test_vmc_apply_semantics_and_presets():
    state = VmcState()
    assert parse_vmc(osc("/VMC/Ext/Blend/Val", "JawOpen", 0.75).dgram, state, received_ns=1) is None
    assert parse_vmc(osc("/VMC/Ext/Blend/Val", "eyeBlink_L", 1.0).dgram, state, received_ns=1) is None
    s = parse_vmc(osc("/VMC/Ext/Blend/Apply").dgram, state, received_ns=2)
    assert s.weights[JAW] == 0.75 and s.weights[BLINK_L] == 1.0
    s = parse_vmc(bundle(osc("/VMC/Ext/Blend/Val", "Joy", 1.0), osc("/VMC/Ext/Blend/Val", "BLINK_R", 0.5),
                         osc("/VMC/Ext/Blend/Apply")), VmcState(), received_ns=3)
    assert s.weights[arkit_index("MouthSmileLeft")] == pytest.approx(0.8)
    assert s.weights[arkit_index("EyeBlinkRight")] == pytest.approx(0.5)
    assert s.weights[BLINK_L] == 0
    s = parse_vmc(bundle(osc("/VMC/Ext/Blend/Val", "A", 1.0), osc("/VMC/Ext/Blend/Val", "JawOpen", 0.9),
                         osc("/VMC/Ext/Blend/Apply")), VmcState(), received_ns=3)
    assert s.weights[JAW] == pytest.approx(0.9)  # max of preset (0.7) and the ARKit clip
    assert isinstance(parse_vmc(osc("/VMC/Ext/Blend/Val", "A").dgram, VmcState(), received_ns=1), Rejection)
    assert isinstance(parse_vmc(b"not osc", VmcState(), received_ns=1), Rejection)


def test_vmc_head_bone():
    half = np.sin(0.25)  # 0.5 rad about Unity's y axis
    s = parse_vmc(bundle(osc("/VMC/Ext/Bone/Pos", "Head", 0.0, 1.6, 0.0, 0.0, float(half), 0.0, float(np.cos(0.25))),
                         osc("/VMC/Ext/Blend/Apply")), VmcState(), received_ns=1)
    np.testing.assert_allclose(s.head_rad, [0.5, 0, 0], atol=1e-6)
    np.testing.assert_allclose(quaternion_to_yaw_pitch_roll(np.sin(0.15), 0, 0, np.cos(0.15)), [0, 0.3, 0], atol=1e-6)


def test_vmc_end_to_end():
    session = Session(VmcSource(host="127.0.0.1", port=0))
    tx = udp_sender()
    try:
        pkt = bundle(osc("/VMC/Ext/Blend/Val", "JawOpen", 0.75), osc("/VMC/Ext/Blend/Val", "mouthSmileRight", 0.25),
                     osc("/VMC/Ext/Blend/Val", "EyeBlinkLeft", 1.0), osc("/VMC/Ext/OK", 1),
                     osc("/VMC/Ext/Blend/Apply"))
        msg = session.send_until_received(lambda: tx.sendto(pkt, ("127.0.0.1", session.port)))
        np.testing.assert_allclose(msg.arkit, golden_weights(), atol=1e-6)
        assert msg.source == "vmc"
    finally:
        tx.close()
        session.close()


# --------------------------------------------------------------------------- #
# VTube Studio


def vts_doc(found=True):
    return {"Timestamp": 1, "Hotkey": -1, "FaceFound": found, "Rotation": {"x": -10.0, "y": 20.0, "z": 5.0},
            "Position": {"x": 0, "y": 0, "z": 0}, "EyeLeft": {"x": 1.0, "y": 2.0, "z": 0},
            "EyeRight": {"x": 1.0, "y": 2.0, "z": 0},
            "BlendShapes": [{"k": "JawOpen", "v": 0.75}, {"k": "EyeBlinkLeft", "v": 1.0},
                            {"k": "mouthSmile_R", "v": 0.25}, {"k": "SomethingElse", "v": 0.9}]}


def test_vts_golden_json():
    s = parse_vts(json.dumps(vts_doc()).encode(), received_ns=1)
    np.testing.assert_allclose(s.weights, golden_weights(), atol=1e-6)
    np.testing.assert_allclose(s.head_rad, np.radians([20.0, -10.0, 5.0]), atol=1e-6)
    lost = parse_vts(json.dumps(vts_doc(found=False)).encode(), received_ns=1)
    assert not lost.valid and not lost.weights.any()
    assert isinstance(parse_vts(b'{"BlendShapes": [{"k": "JawOpen", "v": NaN}]}', received_ns=1), Rejection)
    assert isinstance(parse_vts(b'[1, 2]', received_ns=1), Rejection)


def test_vts_request_renewal_and_stream():
    phone = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    phone.bind(("127.0.0.1", 0))
    phone.settimeout(3)
    session = Session(VtsSource(phone_host="127.0.0.1", phone_port=phone.getsockname()[1], request_time_s=0.6))
    try:
        first, addr = phone.recvfrom(4096)
        request = json.loads(first)
        assert request == {"messageType": "iOSTrackingDataRequest", "time": 0.6, "sentBy": "facecast",
                           "ports": [session.port]}
        t0 = time.monotonic()
        again, _ = phone.recvfrom(4096)  # renewed before it expires (every time / 2)
        assert json.loads(again) == request and time.monotonic() - t0 < 0.6
        data = json.dumps(vts_doc()).encode()
        msg = session.send_until_received(lambda: phone.sendto(data, ("127.0.0.1", request["ports"][0])))
        np.testing.assert_allclose(msg.arkit, golden_weights(), atol=1e-6)
        assert msg.valid
    finally:
        session.close()
        phone.close()
