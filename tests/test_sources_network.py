"""Network sources: golden packets parsed, and sent over real loopback UDP to the real
runners inside the real Engine, checked on the published parameter feed."""

import itertools
import json
import logging
import math
import socket
import struct
import threading
import time

import numpy as np
import pytest
from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message_builder import OscMessageBuilder

from conftest import free_port, running, wait_until
from test_types import UNREAL_EAR_FACE_BLEND_SHAPE
from facecast.bridge.protocol import TOPIC_PARAMS
from facecast.bridge.publisher import Publisher
from facecast.bridge.receiver import Receiver
from facecast.engine.loop import Engine, LoopConfig
from facecast.engine.retarget import Retargeter
from facecast.engine.sources import SourceError, SourceOptions, open_source
from facecast.engine.sources.base import Rejection
from facecast.engine.sources.ifacialmocap import (FACE_LOST_AFTER_S, HANDSHAKE, IFacialMocapSource,
                                                  parse_ifacialmocap, parse_ifacialmocap_entries)
from facecast.engine.sources.livelink import LiveLinkSource, encode_livelink, parse_livelink
from facecast.engine.sources.udp import MAX_DATAGRAM_BYTES
from facecast.engine.sources.vmc import (VRM1_ALIASES, VRM_PRESETS, VmcSource, VmcState, parse_vmc,
                                         quaternion_to_yaw_pitch_roll)
from facecast.engine.sources.vts import VtsSource, parse_vts
from facecast.engine.types import NUM_ARKIT, FaceSample, arkit_index

JAW, BLINK_L, SMILE_R = arkit_index("JawOpen"), arkit_index("EyeBlinkLeft"), arkit_index("MouthSmileRight")
LOCAL = "127.0.0.1"
IFM_PORT = 49983  # iFacialMocap always sends here


def golden_weights():
    """JawOpen 0.75, EyeBlinkLeft 1, MouthSmileRight 0.25: three different ARKit slots."""
    w = np.zeros(NUM_ARKIT, np.float32)
    w[JAW], w[BLINK_L], w[SMILE_R] = 0.75, 1.0, 0.25
    return w


# Golden iFacialMocap text: Apple's raw names, 0..100, an unknown name, rotations in degrees.
IFM_TEXT = ("mouthSmile_R-25|eyeBlink_L-100|jawOpen-75|notAnArkitShape-50|"
            "=head#-10.0,20.0,5.0,0.01,-0.02,0.3|rightEye#3.0,-2.0,0.0|leftEye#4.0,-1.0,0.0|")


def vts_doc(found=True):
    """Golden VTube Studio tracking document."""
    return {"Timestamp": 1700000000000, "Hotkey": -1, "FaceFound": found,
            "Rotation": {"x": -10.0, "y": 20.0, "z": 5.0}, "Position": {"x": 0.1, "y": -0.2, "z": 0.3},
            "EyeLeft": {"x": 1.0, "y": 2.0, "z": 0.0}, "EyeRight": {"x": 1.5, "y": 2.5, "z": 0.0},
            "BlendShapes": [{"k": "JawOpen", "v": 0.75}, {"k": "eyeBlinkLeft", "v": 1.0},
                            {"k": "mouthSmile_R", "v": 0.25}, {"k": "SomethingElse", "v": 0.9}]}


def osc(address, *args):
    b = OscMessageBuilder(address)
    for a in args:
        b.add_arg(a)
    return b.build()


def bundle(*contents):
    b = OscBundleBuilder(IMMEDIATELY)
    for c in contents:
        b.add_content(c)
    return b.build().dgram


def golden_vmc():
    return bundle(osc("/VMC/Ext/Blend/Val", "JawOpen", 0.75), osc("/VMC/Ext/Blend/Val", "mouthSmileRight", 0.25),
                  osc("/VMC/Ext/Blend/Val", "eyeBlink_L", 1.0), osc("/VMC/Ext/OK", 1),
                  osc("/VMC/Ext/Blend/Apply"))


# --------------------------------------------------------------------------- #
# Harness: source -> Engine -> Publisher -> Receiver(params)


def local_port_of(source):
    try:
        return source.local_port
    except SourceError:
        return None


class Session:
    """A source running in the real Engine with a real Publisher; a params receiver."""

    def __init__(self, source):
        self.endpoint = f"tcp://{LOCAL}:{free_port()}"
        self.source = source
        self.rx = Receiver(self.endpoint, topics=(TOPIC_PARAMS,))
        self.engine = Engine(source=source, retargeter=Retargeter(), renderer=None,
                             publisher=Publisher(self.endpoint), config=LoopConfig(duration_s=30))
        self.thread = threading.Thread(target=self.engine.run)
        self.thread.start()
        assert wait_until(lambda: local_port_of(source) is not None, 5), "the source did not open"
        self.port = source.local_port

    def send_until_received(self, send, predicate=lambda m: True, timeout_s=5.0):
        """Call ``send`` until a published message matches (the PUB/SUB join takes a moment)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            send()
            msg = self.rx.recv(0.05)
            while msg is not None:
                if predicate(msg):
                    return msg
                msg = self.rx.recv(0)
        raise AssertionError("no matching message arrived on the parameter feed")

    def close(self):
        self.engine.stop()
        self.thread.join(5)
        self.rx.close()
        assert not self.thread.is_alive()


@pytest.fixture
def sender():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    yield s
    s.close()


@pytest.fixture
def phone():
    """A UDP socket playing the phone: receives the handshake/request, sends data back."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((LOCAL, 0))
    s.settimeout(3)
    yield s
    s.close()


def drain(sock):
    """Everything queued on ``sock`` right now."""
    out = []
    sock.setblocking(False)
    try:
        while True:
            out.append(sock.recvfrom(65536))
    except BlockingIOError:
        pass
    finally:
        sock.settimeout(3)
    return out


# --------------------------------------------------------------------------- #
# Live Link Face


def test_livelink_golden_packet_layout_and_round_trip():
    pkt = encode_livelink(weights=golden_weights(), head_rad=(0.1, -0.2, 0.05), eye_left_rad=(0.01, 0.02, 0.0),
                          eye_right_rad=(-0.01, 0.03, 0.0), subject="Alice", device_id="dev", frame=7)
    assert pkt[0] == 6
    assert pkt[1:5] == struct.pack(">i", 3) and pkt[5:8] == b"dev"
    assert pkt[8:12] == struct.pack(">i", 5) and pkt[12:17] == b"Alice"
    assert struct.unpack(">i", pkt[17:21])[0] == 7  # frame number, big-endian
    assert pkt[33] == 61 and len(pkt) == 34 + 61 * 4
    assert struct.unpack(">f", pkt[34 + 4 * JAW:38 + 4 * JAW])[0] == 0.75  # ARKIT_NAMES order
    name, s = parse_livelink(pkt, received_ns=5)
    assert name == "Alice" and s.capture_wall_ns == 5 and s.source == "livelink"
    np.testing.assert_array_equal(s.weights, golden_weights())
    np.testing.assert_allclose(s.head_rad, [0.1, -0.2, 0.05], atol=1e-7)
    np.testing.assert_allclose(s.eye_left_rad, [0.01, 0.02, 0.0], atol=1e-7)
    np.testing.assert_allclose(s.eye_right_rad, [-0.01, 0.03, 0.0], atol=1e-7)
    before = time.time_ns()
    assert parse_livelink(pkt)[1].capture_wall_ns >= before  # the brief's one-argument form


def livelink_golden_packet():
    """A Live Link Face packet written field by field with struct from the app's layout (not with
    facecast's encoder): 61 distinct floats, in Unreal's EARFaceBlendShape order (test_types.py)."""
    values = [0.005 + 0.019 * i for i in range(52)]                       # every shape its own weight
    values += [0.11, -0.12, 0.13, 0.021, -0.022, 0.023, -0.031, 0.032, -0.033]  # head, left eye, right eye
    packet = bytes([6]) + struct.pack(">i", 3) + b"dev" + struct.pack(">i", 5) + b"Alice"
    packet += struct.pack(">ifii", 7, 0.0, 60, 1) + bytes([61]) + struct.pack(">61f", *values)
    return packet, np.array(values, np.float32)


def test_livelink_golden_packet_every_slot():
    """Each of the 61 slots lands where the layout says (a left/right eye swap made consistently in
    the encoder and the parser fails here), and facecast's encoder writes the same bytes."""
    packet, values = livelink_golden_packet()
    name, s = parse_livelink(packet, received_ns=1)
    assert name == "Alice"
    angles = {"Head": s.head_rad, "LeftEye": s.eye_left_rad, "RightEye": s.eye_right_rad}
    for slot, slot_name in enumerate(UNREAL_EAR_FACE_BLEND_SHAPE):
        if slot < 52:
            got = s.weights[arkit_index(slot_name)]
        else:
            part, axis = next((k, slot_name[len(k):]) for k in angles if slot_name.startswith(k))
            got = angles[part][("Yaw", "Pitch", "Roll").index(axis)]
        assert np.float32(got) == values[slot], (slot, slot_name, got, values[slot])
    again = encode_livelink(weights=values[:52], head_rad=values[52:55], eye_left_rad=values[55:58],
                            eye_right_rad=values[58:61], subject="Alice", device_id="dev", frame=7, fps=60)
    assert again == packet


def test_livelink_rejections_and_clamping():
    good = encode_livelink(weights=golden_weights(), subject="Alice")
    for n in range(len(good)):
        r = parse_livelink(good[:n])
        assert isinstance(r, Rejection) and r.reason in ("truncated", "bad-count"), (n, r)
    assert parse_livelink(good + b"\x00").reason == "bad-length"
    assert parse_livelink(b"\x07" + good[1:]).reason == "bad-version"
    huge = good[:1] + struct.pack(">i", 0x7FFFFFFF) + good[5:]
    assert parse_livelink(huge).reason == "bad-length"
    negative = good[:1] + struct.pack(">i", -4) + good[5:]
    assert parse_livelink(negative).reason == "bad-length"
    w = golden_weights()
    w[3] = np.nan
    assert parse_livelink(encode_livelink(weights=w)).reason == "not-finite"
    assert parse_livelink(encode_livelink(weights=golden_weights(), head_rad=(0, np.inf, 0))).reason == "not-finite"
    assert parse_livelink(encode_livelink(weights=golden_weights(), head_rad=(0, 9.0, 0))).reason == "out-of-range"
    w = golden_weights()
    w[0], w[1] = -0.5, 3.0
    _, s = parse_livelink(encode_livelink(weights=w))
    assert s.weights[0] == 0.0 and s.weights[1] == 1.0


def test_livelink_end_to_end_subject_filter_and_version_report(sender, caplog):
    session = Session(LiveLinkSource(host=LOCAL, port=0, subject="Alice"))
    try:
        addr = (LOCAL, session.port)
        bob = encode_livelink(weights=np.full(NUM_ARKIT, 0.5), subject="Bob")
        alice = encode_livelink(weights=golden_weights(), head_rad=(0.1, -0.2, 0.05),
                                eye_right_rad=(0.0, 0.1, 0.0), subject="Alice")
        newer = b"\x07" + alice[1:]

        def send():
            sender.sendto(b"\x00garbage", addr)  # must not use up the report of version 7
            sender.sendto(bob, addr)
            sender.sendto(newer, addr)
            sender.sendto(alice, addr)

        with caplog.at_level(logging.WARNING):
            msg = session.send_until_received(send)
            for _ in range(20):
                send()
            assert wait_until(lambda: session.source.rejections.as_dict().get("bad-version", 0) >= 40, 3)
        np.testing.assert_allclose(msg.arkit, golden_weights(), atol=1e-7)
        np.testing.assert_allclose(msg.head_rad, [0.1, -0.2, 0.05], atol=1e-6)
        assert msg.source == "livelink" and msg.valid
        rejected = session.source.rejections.as_dict()
        assert rejected["other-subject"] >= 20  # Bob never reached the feed
        version_reports = [r for r in caplog.records if "version 7" in r.getMessage()]
        assert len(version_reports) == 1 and "supports version 6" in version_reports[0].getMessage()
        assert sum("other-subject" in r.getMessage() for r in caplog.records) == 1  # no flood
    finally:
        session.close()


def test_livelink_without_subject_accepts_any(sender):
    session = Session(LiveLinkSource(host=LOCAL, port=0))
    try:
        pkt = encode_livelink(weights=golden_weights(), subject="Whoever")
        msg = session.send_until_received(lambda: sender.sendto(pkt, (LOCAL, session.port)))
        np.testing.assert_allclose(msg.arkit, golden_weights(), atol=1e-7)
    finally:
        session.close()


# --------------------------------------------------------------------------- #
# The shared UDP runner


def all_sources(phone_port=9, port=0):
    """One of each network source (iFacialMocap on 49983, the one port its app sends to)."""
    return [LiveLinkSource(host=LOCAL, port=port),
            IFacialMocapSource(phone_host=LOCAL, phone_port=phone_port),
            VmcSource(host=LOCAL, port=port),
            VtsSource(phone_host=LOCAL, port=port, phone_port=phone_port)]


def test_runner_emits_only_the_newest_of_a_backlog(sender):
    """Datagrams that piled up while the runner was busy: every one is parsed (the garbage
    among them is counted), but only the newest sample reaches the loop."""
    source = LiveLinkSource(host=LOCAL, port=0)
    source.open()
    port = local_port_of(source)
    for k in range(40):
        w = np.zeros(NUM_ARKIT, np.float32)
        w[JAW] = k / 40
        sender.sendto(encode_livelink(weights=w, subject="s", device_id="d", frame=k), (LOCAL, port))
        if k == 20:
            sender.sendto(b"\x00garbage", (LOCAL, port))
    time.sleep(0.2)  # all queued in the socket before run() starts
    got, stop = [], threading.Event()
    thread = threading.Thread(target=source.run, args=(lambda s: (got.append(s), stop.set()), stop))
    thread.start()
    thread.join(2)
    source.close()
    assert len(got) == 1 and got[0].weights[JAW] == np.float32(39 / 40)
    assert source.superseded == 39 and sum(source.rejections.as_dict().values()) == 1


@pytest.mark.parametrize("index", range(4), ids=["livelink", "ifacialmocap", "vmc", "vts"])
def test_runner_stops_promptly(index):
    source = all_sources()[index]
    source.open()
    stop = threading.Event()
    thread = threading.Thread(target=source.run, args=(lambda s: None, stop))
    thread.start()
    time.sleep(0.25)  # blocked in its receive
    t0 = time.monotonic()
    stop.set()
    thread.join(2)
    assert not thread.is_alive() and time.monotonic() - t0 < 0.5
    source.close()
    source.close()  # idempotent
    with pytest.raises(SourceError):
        _ = source.local_port


@pytest.mark.parametrize("index", range(4), ids=["livelink", "ifacialmocap", "vmc", "vts"])
def test_open_on_a_port_in_use_says_what_to_do(index):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as blocker:
        blocker.bind((LOCAL, IFM_PORT if index == 1 else 0))
        source = all_sources(port=blocker.getsockname()[1])[index]
        with pytest.raises(SourceError, match=r"already in use.*choose another port"):
            source.open()
        source.close()


def test_open_on_an_address_of_another_computer():
    with pytest.raises(SourceError, match="not an address of this computer.*0.0.0.0"):
        LiveLinkSource(host="192.0.2.1", port=0).open()  # TEST-NET-1: never local


@pytest.mark.parametrize("cls", [IFacialMocapSource, VtsSource])
def test_phone_on_wifi_needs_source_bind(cls):
    source = cls(phone_host="192.168.77.20")
    with pytest.raises(SourceError, match="--source-bind 0.0.0.0"):
        source.open()
    with pytest.raises(SourceError):
        _ = source.local_port  # the socket was closed again


def test_garbage_is_counted_and_never_stops_the_stream(sender):
    source = LiveLinkSource(host=LOCAL, port=0)
    good = encode_livelink(weights=golden_weights())
    garbage = [b"", b"\x06", b"\x06\x00\x00", bytes(range(256)), b"\xff" * (MAX_DATAGRAM_BYTES + 10),
               good[:-1], good + b"!", b"\x05" + good[1:]]
    with running(source) as (got, thread):
        for junk in garbage:
            sender.sendto(good, (LOCAL, source.local_port))
            sender.sendto(junk, (LOCAL, source.local_port))
            time.sleep(0.002)
        sender.sendto(good, (LOCAL, source.local_port))
        # every good datagram is emitted or, where the thread found two waiting at once, superseded by the newer
        # (newest wins: under load the 2 ms gaps close up); the last one is always emitted
        assert wait_until(lambda: len(got) + source.superseded == len(garbage) + 1, 3), (len(got), source.superseded)
        np.testing.assert_array_equal(got[-1].weights, golden_weights())
        assert wait_until(lambda: source.rejections.total() == len(garbage), 3)
        assert thread.is_alive()
        counts = source.rejections.as_dict()
        assert counts["oversized"] == 1 and counts["bad-version"] == 2 and counts["bad-length"] == 1
        assert all(isinstance(s, FaceSample) for s in got)


def test_a_parser_exception_is_counted_not_raised(sender):
    source = VmcSource(host=LOCAL, port=0)
    source.open()
    real_parse = source.parse

    def flaky(data, received_ns):
        if data == b"boom":
            raise RuntimeError("parser bug")
        return real_parse(data, received_ns)

    source.parse = flaky
    with running(source) as (got, _):
        sender.sendto(b"boom", (LOCAL, source.local_port))
        sender.sendto(golden_vmc(), (LOCAL, source.local_port))
        assert wait_until(lambda: len(got) == 1, 3)
        assert source.rejections.as_dict() == {"parser-error": 1}


def test_open_source_specs_build_the_network_sources():
    s = open_source("livelink:")
    assert isinstance(s, LiveLinkSource) and (s._host, s._port) == (LOCAL, 11111)
    s = open_source("livelink:0.0.0.0:12000", SourceOptions(subject="Alice"))
    assert (s._host, s._port, s._subject) == ("0.0.0.0", 12000, "Alice")
    s = open_source("ifacialmocap:10.0.0.5", SourceOptions(bind_host="0.0.0.0"))
    assert isinstance(s, IFacialMocapSource) and (s._host, s._port, s._phone_host) == ("0.0.0.0", 49983, "10.0.0.5")
    s = open_source("vmc:39540")
    assert isinstance(s, VmcSource) and (s._host, s._port) == (LOCAL, 39540)
    s = open_source("vts:10.0.0.6")
    assert isinstance(s, VtsSource) and (s._host, s._port, s._phone_host) == (LOCAL, 0, "10.0.0.6")


# --------------------------------------------------------------------------- #
# iFacialMocap


def test_ifacialmocap_golden_text():
    s = parse_ifacialmocap(IFM_TEXT.encode(), received_ns=1)
    np.testing.assert_allclose(s.weights, golden_weights(), atol=1e-7)
    # rx is pitch, ry yaw, rz roll; stored as (yaw, pitch, roll) radians
    np.testing.assert_allclose(s.head_rad, np.radians([20.0, -10.0, 5.0]), atol=1e-6)
    np.testing.assert_allclose(s.eye_right_rad, np.radians([-2.0, 3.0, 0.0]), atol=1e-6)
    np.testing.assert_allclose(s.eye_left_rad, np.radians([-1.0, 4.0, 0.0]), atol=1e-6)
    shuffled = "|".join(reversed(IFM_TEXT.split("|")))
    np.testing.assert_array_equal(parse_ifacialmocap(shuffled.encode()).weights, s.weights)


def test_ifacialmocap_number_forms_and_rejections():
    s = parse_ifacialmocap(b"jawOpen--5|eyeBlink_L-1e-05|mouthSmile_R&40|browInnerUp-250|=head#-181,0,0,0,0,0|")
    assert s.weights[JAW] == 0.0 and s.weights[BLINK_L] == pytest.approx(1e-7)
    assert s.weights[SMILE_R] == pytest.approx(0.4) and s.weight("BrowInnerUp") == 1.0
    np.testing.assert_allclose(s.head_rad, np.radians([0, 179.0, 0]), atol=1e-5)  # wrapped
    assert s.eye_left_rad is None
    for bad, reason in [(b"\xff\xfe", "not-utf8"), (b"=head#1,2,3|", "no-blendshapes"),
                        (b"jawOpen-5|" * 2000, "oversized"), (b"jawOpen-abc|", "no-blendshapes")]:
        r = parse_ifacialmocap(bad)
        assert isinstance(r, Rejection) and r.reason == reason, (bad[:30], r)


@pytest.mark.parametrize("entry, reason", [
    ("jawOpen-abc", "bad-number"), ("jawOpen-nan", "not-finite"), ("jawOpen-inf", "not-finite"),
    ("jawOpen", "bad-entry"), ("=head#1,2", "bad-entry"), ("=head#1,x,3", "bad-number"),
    ("=head#1,400,3", "out-of-range"), ("leftEye#nan,0,0", "not-finite")])
def test_ifacialmocap_skips_only_the_malformed_entry(entry, reason):
    """As the peers do: the bad entry is skipped and counted, the rest of the datagram kept."""
    data = f"mouthSmile_R-40|{entry}|eyeBlink_L-100|=rightEye#1.5,2.5,0.5|".encode()
    sample, skipped = parse_ifacialmocap_entries(data, received_ns=1)
    assert [r.reason for r in skipped] == [reason]
    assert sample.weights[SMILE_R] == pytest.approx(0.4) and sample.weights[BLINK_L] == 1.0
    np.testing.assert_allclose(sample.eye_right_rad, np.radians([2.5, 1.5, 0.5]), atol=1e-6)


class IFacialMocapPhone:
    """The iFacialMocap app as its developer's page and its peers describe it: it waits for the
    handshake on its port, then streams to UDP port 49983 of the computer the handshake came from
    (not to the handshake's source port), and repeats its last datagram when it loses the face."""

    def __init__(self, sock):
        self.sock = sock
        self.computer = None

    def wait_for_handshake(self):
        hello, (host, port) = self.sock.recvfrom(1024)
        self.computer = (host, IFM_PORT)
        return hello, port

    def send(self, text: str):
        self.sock.sendto(text.encode(), self.computer)


def test_ifacialmocap_listens_where_the_app_sends():
    source = IFacialMocapSource(phone_host=LOCAL, phone_port=9)
    source.open()
    try:
        assert source.local_port == IFM_PORT
    finally:
        source.close()


def test_ifacialmocap_face_loss_counts_repeats_and_their_time():
    """Driven with set arrival times: 5 repeats, or 6 within 0.2 s, are no loss; the 6th repeat
    0.2 s after the frame is; a different datagram is a face again; a reopened source starts over;
    a rejected datagram's repeats stay rejections."""
    source = IFacialMocapSource(phone_host=LOCAL)
    frame, other = IFM_TEXT.encode(), IFM_TEXT.replace("5.0,0.01", "5.5,0.01").encode()
    t0 = 1_000_000_000_000
    assert source.parse(frame, t0).valid
    assert [source.parse(frame, t0 + k * 50_000_000) for k in range(1, 5)] == [None] * 4  # 5 in all, 0.2 s
    assert source.parse(frame, t0 + 150_000_000) is None  # the 6th, only 0.15 s after the frame
    lost = source.parse(frame, t0 + 250_000_000)
    assert lost is not None and not lost.valid and not lost.weights.any()
    assert source.parse(other, t0 + 260_000_000).valid  # the face is back
    source.open()
    source.close()
    assert source.parse(other, t0 + 270_000_000).valid  # after a reopen, the same datagram is a new frame
    for k in range(8):
        assert isinstance(source.parse(b"\xff\xfe", t0 + k * 100_000_000), Rejection)


def test_ifacialmocap_handshake_resend_stream_and_face_loss(phone):
    source = IFacialMocapSource(phone_host=LOCAL, phone_port=phone.getsockname()[1], handshake_every_s=0.3)
    app = IFacialMocapPhone(phone)
    session = Session(source)
    try:
        hello, _ = app.wait_for_handshake()
        assert hello == b"iFacialMocap_sahuasouryya9218sauhuiayeta91555dy3719" == HANDSHAKE
        t0 = time.monotonic()
        again, _ = phone.recvfrom(1024)  # resent while the phone stays quiet
        assert again == HANDSHAKE and 0.15 < time.monotonic() - t0 < 0.6
        msg = session.send_until_received(lambda: app.send(IFM_TEXT))
        np.testing.assert_allclose(msg.arkit, golden_weights(), atol=1e-6)
        np.testing.assert_allclose(msg.head_rad, np.radians([20.0, -10.0, 5.0]), atol=1e-5)
        assert msg.source == "ifacialmocap" and msg.valid
        drain(phone)
        for jitter in np.random.default_rng(0).uniform(-0.5, 0.5, 40):  # 0.8 s of streaming, each frame
            app.send(IFM_TEXT.replace("5.0,0.01", f"{5 + jitter:.4f},0.01"))  # its own angle: no handshakes
            time.sleep(0.02)
        assert drain(phone) == []
        # The face is lost: the app repeats its last datagram; after FACE_LOST_AFTER_S the feed says so.
        stale = IFM_TEXT.replace("5.0,0.01", "5.5,0.01")
        t_lost = time.monotonic()
        msg = session.send_until_received(lambda: (app.send(stale), time.sleep(0.015)), lambda m: not m.valid)
        assert time.monotonic() - t_lost >= FACE_LOST_AFTER_S and not msg.valid
        msg = session.send_until_received(lambda: app.send(IFM_TEXT), lambda m: m.valid)  # found again
        assert msg.valid
    finally:
        session.close()


# --------------------------------------------------------------------------- #
# VMC


def val(name, value):
    return osc("/VMC/Ext/Blend/Val", name, value)


APPLY = osc("/VMC/Ext/Blend/Apply")


def test_vmc_apply_semantics():
    state = VmcState()
    assert parse_vmc(val("JawOpen", 0.75).dgram, state, received_ns=1) is None  # accumulates
    assert parse_vmc(val("eyeBlink_L", 1.0).dgram, state, received_ns=1) is None
    s = parse_vmc(APPLY.dgram, state, received_ns=2)  # a bare Apply in its own datagram
    assert s.capture_wall_ns == 2 and s.source == "vmc"
    assert s.weights[JAW] == 0.75 and s.weights[BLINK_L] == 1.0 and s.weights.sum() == 1.75
    # Values persist: a later frame that resends only one clip keeps the other.
    s = parse_vmc(bundle(val("JawOpen", 0.25), APPLY), state)
    assert s.weights[JAW] == 0.25 and s.weights[BLINK_L] == 1.0
    # Values after the last Apply of a datagram wait for the next Apply.
    s = parse_vmc(bundle(val("JawOpen", 0.5), APPLY, val("JawOpen", 0.9)), state)
    assert s.weights[JAW] == 0.5
    assert parse_vmc(APPLY.dgram, state).weights[JAW] == pytest.approx(0.9)
    # Clamping, ints, and ignored addresses/clips.
    s = parse_vmc(bundle(val("JawOpen", 7.0), val("MouthClose", -1.0), val("TongueOut", 1),
                         val("MyCustomClip", 1.0), osc("/VMC/Ext/Bone/Pos", "Hips", 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0),
                         osc("/VMC/Ext/Root/Pos", "root", 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0), APPLY), state)
    assert s.weights[JAW] == 1.0 and s.weight("MouthClose") == 0.0 and s.weight("TongueOut") == 1.0
    assert s.head_rad is None


def test_vmc_rejected_datagram_changes_nothing():
    state = VmcState()
    parse_vmc(bundle(val("JawOpen", 0.5), APPLY), state)
    before = state.clips.copy()
    for bad, reason in [(bundle(val("JawOpen", 0.9), val("MouthClose", float("nan")), APPLY), "not-finite"),
                        (bundle(val("JawOpen", 0.9), osc("/VMC/Ext/Blend/Val", "JawOpen"), APPLY), "bad-args"),
                        (bundle(val("JawOpen", 0.9), osc("/VMC/Ext/Blend/Val", 3.0, 0.5), APPLY), "bad-args"),
                        (bundle(val("JawOpen", 0.9), osc("/VMC/Ext/Blend/Val", "A", True), APPLY), "bad-args"),
                        (bundle(val("JawOpen", 0.9), osc("/VMC/Ext/Bone/Pos", "Head", 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
                                                         0.0), APPLY), "bad-args"),
                        (bundle(osc("/VMC/Ext/Bone/Pos", "Head", 0.0, 0.0, 0.0, float("inf"), 0.0, 0.0, 1.0)),
                         "not-finite"),
                        (b"not osc", "not-osc"), (b"/VMC\x00\x00\x00\x00,s\x00\x00", "not-osc"), (b"", "not-osc")]:
        r = parse_vmc(bad, state)
        assert isinstance(r, Rejection) and r.reason == reason, (bad[:40], r)
        np.testing.assert_array_equal(state.clips, before)


def test_vmc_deeply_nested_bundles_are_rejected_not_raised():
    inner = b""
    for _ in range(700):  # far deeper than Python's recursion limit allows python-osc to go
        inner = b"#bundle\x00" + b"\x00" * 7 + b"\x01" + (struct.pack(">i", len(inner)) + inner if inner else b"")
    assert len(inner) < MAX_DATAGRAM_BYTES
    r = parse_vmc(inner, VmcState())
    assert isinstance(r, Rejection) and r.reason == "not-osc"
    nested = bundle(OscBundleBuilder(IMMEDIATELY).build(), val("JawOpen", 0.5), APPLY)  # modest nesting is fine
    assert parse_vmc(nested, VmcState()).weights[JAW] == 0.5


@pytest.mark.parametrize("preset", sorted(VRM_PRESETS))
def test_vmc_presets_follow_the_table(preset):
    for spelling in (preset, preset.upper(), preset.lower()):
        s = parse_vmc(bundle(val(spelling, 0.5), APPLY), VmcState())
        expected = np.zeros(NUM_ARKIT, np.float32)
        for shape, factor in VRM_PRESETS[preset].items():
            expected[arkit_index(shape)] = 0.5 * factor
        np.testing.assert_allclose(s.weights, expected, atol=1e-7)
        assert s.weights.any()


def test_vmc_preset_examples_and_max_combination():
    s = parse_vmc(bundle(val("Blink", 1.0), APPLY), VmcState())
    assert s.weight("EyeBlinkLeft") == 1.0 and s.weight("EyeBlinkRight") == 1.0
    s = parse_vmc(bundle(val("Joy", 1.0), val("BLINK_R", 0.5), APPLY), VmcState())
    assert s.weight("MouthSmileLeft") == pytest.approx(0.8) and s.weight("CheekSquintRight") == pytest.approx(0.5)
    assert s.weight("EyeBlinkRight") == 0.5 and s.weight("EyeBlinkLeft") == 0.0
    s = parse_vmc(bundle(val("Angry", 1.0), val("Sorrow", 1.0), APPLY), VmcState())
    assert s.weight("BrowDownLeft") == pytest.approx(0.8) and s.weight("BrowInnerUp") == pytest.approx(0.8)
    assert s.weight("MouthFrownLeft") == pytest.approx(0.6)  # max(Angry 0.3, Sorrow 0.6)
    # A preset and an ARKit clip on one channel: the larger wins, whichever came first.
    for clips in ((val("A", 1.0), val("JawOpen", 0.9)), (val("JawOpen", 0.9), val("A", 1.0))):
        assert parse_vmc(bundle(*clips, APPLY), VmcState()).weights[JAW] == pytest.approx(0.9)
    assert parse_vmc(bundle(val("A", 1.0), val("JawOpen", 0.2), APPLY), VmcState()).weights[JAW] == pytest.approx(0.7)
    for alias, preset in VRM1_ALIASES.items():  # VRM 1.0 names
        a = parse_vmc(bundle(val(alias, 1.0), APPLY), VmcState()).weights
        b = parse_vmc(bundle(val(preset, 1.0), APPLY), VmcState()).weights
        np.testing.assert_array_equal(a, b)


def _axis_q(axis, angle):
    q = [0.0, 0.0, 0.0, math.cos(angle / 2)]
    q[axis] = math.sin(angle / 2)
    return q


def _qmul(a, b):
    ax, ay, az, aw = a
    bx, by, bz, bw = b
    return [aw * bx + ax * bw + ay * bz - az * by, aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw, aw * bw - ax * bx - ay * by - az * bz]


def test_vmc_head_bone_rotation():
    rng = np.random.default_rng(3)
    for _ in range(50):  # Unity's Quaternion.Euler(x, y, z) = qy * qx * qz
        yaw, roll = rng.uniform(-3, 3, 2)
        pitch = rng.uniform(-1.5, 1.5)
        q = _qmul(_qmul(_axis_q(1, yaw), _axis_q(0, pitch)), _axis_q(2, roll))
        np.testing.assert_allclose(quaternion_to_yaw_pitch_roll(*q), [yaw, pitch, roll], atol=1e-5)
    qx, qy, qz, qw = _qmul(_axis_q(1, 0.5), _axis_q(0, -0.2))
    state = VmcState()
    s = parse_vmc(bundle(osc("/VMC/Ext/Bone/Pos", "Head", 0.0, 1.6, 0.0, qx, qy, qz, qw), APPLY), state)
    np.testing.assert_allclose(s.head_rad, [0.5, -0.2, 0.0], atol=1e-6)
    s = parse_vmc(bundle(val("JawOpen", 0.1), APPLY), state)  # the head persists too
    np.testing.assert_allclose(s.head_rad, [0.5, -0.2, 0.0], atol=1e-6)


def test_vmc_end_to_end_bundles_and_split_datagrams(sender):
    session = Session(VmcSource(host=LOCAL, port=0))
    addr = (LOCAL, session.port)
    try:
        msg = session.send_until_received(lambda: sender.sendto(golden_vmc(), addr))
        np.testing.assert_allclose(msg.arkit, golden_weights(), atol=1e-7)
        assert msg.source == "vmc"
        qx, qy, qz, qw = _axis_q(1, 0.3)

        def split_frame():  # values in two datagrams, the Apply in a third
            sender.sendto(bundle(val("Joy", 1.0), val("JawOpen", 0.0)), addr)
            sender.sendto(osc("/VMC/Ext/Bone/Pos", "Head", 0.0, 1.6, 0.0, qx, qy, qz, qw).dgram, addr)
            sender.sendto(APPLY.dgram, addr)

        msg = session.send_until_received(split_frame, lambda m: m.arkit[JAW] == 0.0)
        assert msg.arkit[arkit_index("MouthSmileLeft")] == pytest.approx(0.8)
        assert msg.arkit[BLINK_L] == 1.0  # kept from the first frame
        np.testing.assert_allclose(msg.head_rad, [0.3, 0.0, 0.0], atol=1e-6)
    finally:
        session.close()


def test_vmc_source_keeps_python_osc_warnings_out_of_the_log(sender, caplog):
    source = VmcSource(host=LOCAL, port=0)
    with running(source) as (got, _):
        odd_type = b"/VMC/Ext/Blend/Val\x00\x00,sX\x00A\x00\x00\x00"  # 'X' is no OSC type
        with caplog.at_level(logging.WARNING):
            for _ in range(50):
                sender.sendto(odd_type, (LOCAL, source.local_port))
            sender.sendto(golden_vmc(), (LOCAL, source.local_port))
            assert wait_until(lambda: len(got) == 1, 3)
        assert not [r for r in caplog.records if "pythonosc" in r.pathname]
        assert source.rejections.as_dict() == {"bad-args": 50}


# --------------------------------------------------------------------------- #
# VTube Studio


def test_vts_golden_json():
    s = parse_vts(json.dumps(vts_doc()).encode(), received_ns=1)
    np.testing.assert_allclose(s.weights, golden_weights(), atol=1e-7)
    np.testing.assert_allclose(s.head_rad, np.radians([-10.0, 20.0, 5.0]), atol=1e-6)  # yaw x, pitch y, roll z
    np.testing.assert_allclose(s.eye_left_rad, np.radians([2.0, 1.0, 0.0]), atol=1e-6)
    np.testing.assert_allclose(s.eye_right_rad, np.radians([2.5, 1.5, 0.0]), atol=1e-6)
    assert s.valid and s.source == "vts" and s.capture_wall_ns == 1
    lost = parse_vts(json.dumps(vts_doc(found=False)).encode())
    assert not lost.valid and not lost.weights.any() and lost.head_rad is None
    assert not parse_vts(b'{"FaceFound": false}').valid  # no BlendShapes needed then
    s = parse_vts(b'{"BlendShapes": [{"k": "JawOpen", "v": 3}], "Rotation": {"x": 270, "y": 0, "z": 0}}')
    assert s.weights[JAW] == 1.0 and s.eye_left_rad is None
    np.testing.assert_allclose(s.head_rad, np.radians([-90.0, 0, 0]), atol=1e-6)  # wrapped


@pytest.mark.parametrize("doc, reason", [
    (b'{"BlendShapes": [{"k": "JawOpen", "v": NaN}]}', "not-finite"),
    (b'{"BlendShapes": [{"k": "JawOpen", "v": -Infinity}]}', "not-finite"),
    (b'{"BlendShapes": [{"k": "JawOpen", "v": 1' + b"0" * 400 + b'}]}', "not-finite"),  # overflows a float
    (b'{"BlendShapes": [{"k": "JawOpen", "v": 1e999}]}', "not-finite"),
    (b'{"BlendShapes": [{"k": "JawOpen", "v": true}]}', "bad-number"),
    (b'{"BlendShapes": [{"k": 5, "v": 1}]}', "wrong-type"),
    (b'{"BlendShapes": [[1, 2]]}', "wrong-type"),
    (b'{"BlendShapes": {"JawOpen": 1}}', "wrong-type"),
    (b'{"FaceFound": "yes", "BlendShapes": []}', "wrong-type"),
    (b'{"BlendShapes": [], "Rotation": [1, 2, 3]}', "wrong-type"),
    (b'{"BlendShapes": [], "Rotation": {"x": 1, "y": 2}}', "bad-number"),
    (b'{"BlendShapes": [], "EyeLeft": {"x": 1, "y": 2, "z": 1000}}', "out-of-range"),
    (b'{"Rotation": {"x": 1, "y": 2, "z": 3}}', "missing-key"),
    (b'[1, 2]', "wrong-type"), (b'"text"', "wrong-type"), (b'{"a": ', "not-json"), (b"\xff\xfe\x00", "not-json"),
    (b"[" * 5000 + b"]" * 5000, "not-json"), (b" " * 20000, "oversized"),
])
def test_vts_rejections(doc, reason):
    r = parse_vts(doc)
    assert isinstance(r, Rejection) and r.reason == reason, r


def test_vts_request_renewal_and_stream(phone):
    source = VtsSource(phone_host=LOCAL, phone_port=phone.getsockname()[1], request_time_s=0.6)
    session = Session(source)
    try:
        first, source_addr = phone.recvfrom(4096)
        port = session.port
        assert first == ('{"messageType":"iOSTrackingDataRequest","time":0.6,"sentBy":"facecast","ports":[%d]}'
                         % port).encode()
        assert source_addr[1] == port
        t0 = time.monotonic()
        again, _ = phone.recvfrom(4096)  # renewed before it expires, every time / 2
        assert again == first and 0.15 < time.monotonic() - t0 < 0.5
        data = json.dumps(vts_doc()).encode()
        msg = session.send_until_received(lambda: phone.sendto(data, (LOCAL, port)))
        np.testing.assert_allclose(msg.arkit, golden_weights(), atol=1e-6)
        np.testing.assert_allclose(msg.head_rad, np.radians([-10.0, 20.0, 5.0]), atol=1e-5)
        assert msg.valid and msg.source == "vts"
        lost = json.dumps(vts_doc(found=False)).encode()
        msg = session.send_until_received(lambda: phone.sendto(lost, (LOCAL, port)), lambda m: not m.valid)
        assert not msg.valid
        drain(phone)
        for _ in range(35):  # 0.7 s of streaming: renewals keep coming (every 0.3 s)
            phone.sendto(data, (LOCAL, port))
            time.sleep(0.02)
        assert [d for d, _ in drain(phone)].count(first) >= 2
    finally:
        session.close()


# --------------------------------------------------------------------------- #
# Golden datagrams with a distinct value in every field, checked against what each app's open
# peers compute from them, and one head pose through all four sources.
#
# Provenance of the formats and of the peers' readings:
# - iFacialMocap: the developer's page (text "name-value|...|=head#rx,ry,rz,tx,ty,tz|rightEye#...|
#   leftEye#...|", values 0-100, Apple's raw blendshape names); malaybaku/VMagicMirror
#   (ExternalTracker/iFacialMocap/iFacialMocapReceiver.cs) applies the head as Unity
#   Quaternion.Euler(rx, ry, rz): rx pitch, ry yaw, rz roll; Inochi2D/facetrack-d (ifacialmocap.d)
#   reads the eyes the same way as the head.
# - VTube Studio: DenchiSoft/VTubeStudioBlendshapeUDPReceiverTest (VTubeStudioRawTrackingData.cs:
#   Timestamp, Hotkey, FaceFound, Rotation, Position, EyeLeft, EyeRight, BlendShapes [{k, v}]);
#   Veasu/warudo-vtubestudio (VTubeStudioClient.cs) applies the head as Unity
#   Quaternion.Euler(Rotation.y, Rotation.x, Rotation.z) (x yaw, y pitch) and each eye as
#   Quaternion.Euler(Eye.x, Eye.y, Eye.z) (x pitch, y yaw).
# - VMC: sh-akira/VirtualMotionCaptureProtocol: /VMC/Ext/Bone/Pos "Head" px py pz qx qy qz qw, a
#   Unity local rotation.
# - Live Link Face: version 6 packets (test_livelink_golden_packet_every_slot), head yaw, pitch,
#   roll in radians in Unreal's EARFaceBlendShape order.

def apple_raw_name(name: str) -> str:
    """ARKit's ARBlendShapeLocation raw value, as iFacialMocap sends it: EyeBlinkLeft -> eyeBlink_L."""
    for side, suffix in (("Left", "_L"), ("Right", "_R")):
        if name.endswith(side) and not name.startswith(("MouthLeft", "MouthRight", "JawLeft", "JawRight")):
            name = name[: -len(side)] + suffix
    return name[0].lower() + name[1:]


def unity_euler_ypr_rad(x_deg: float, y_deg: float, z_deg: float) -> np.ndarray:
    """Unity's Quaternion.Euler(x, y, z) as facecast's (yaw, pitch, roll): x pitch, y yaw, z roll."""
    return np.radians([y_deg, x_deg, z_deg])


def unity_quaternion(x_deg: float, y_deg: float, z_deg: float) -> tuple:
    """Unity's Quaternion.Euler(x, y, z) (z first, then x, then y) as (qx, qy, qz, qw)."""
    return tuple(_qmul(_qmul(_axis_q(1, math.radians(y_deg)), _axis_q(0, math.radians(x_deg))),
                       _axis_q(2, math.radians(z_deg))))


GOLDEN_SHAPES = [(name, (i * 37) % 97 + 2) for i, name in enumerate(UNREAL_EAR_FACE_BLEND_SHAPE[:52])]  # 2..98


def test_ifacialmocap_golden_every_field():
    text = "|".join(f"{apple_raw_name(n)}-{v}" for n, v in GOLDEN_SHAPES)
    text += "|=head#-7.25,12.5,3.75,0.1,-0.2,0.3|rightEye#1.25,-2.5,0.75|leftEye#-1.5,2.25,-0.5|"
    s = parse_ifacialmocap(text.encode(), received_ns=1)
    for name, value in GOLDEN_SHAPES:
        assert s.weight(name) == np.float32(value / 100), name
    np.testing.assert_allclose(s.head_rad, unity_euler_ypr_rad(-7.25, 12.5, 3.75), atol=1e-6)   # VMagicMirror
    np.testing.assert_allclose(s.eye_right_rad, unity_euler_ypr_rad(1.25, -2.5, 0.75), atol=1e-6)
    np.testing.assert_allclose(s.eye_left_rad, unity_euler_ypr_rad(-1.5, 2.25, -0.5), atol=1e-6)


def test_vts_golden_every_field_ios_and_android():
    doc = {"Timestamp": 1700000000123, "Hotkey": 3, "FaceFound": True,
           "Rotation": {"x": -7.25, "y": 12.5, "z": 3.75}, "Position": {"x": 0.1, "y": -0.2, "z": 0.3},
           "EyeLeft": {"x": -1.5, "y": 2.25, "z": -0.5}, "EyeRight": {"x": 1.25, "y": -2.5, "z": 0.75},
           "BlendShapes": [{"k": n, "v": v / 100} for n, v in GOLDEN_SHAPES]}
    s = parse_vts(json.dumps(doc).encode(), received_ns=1)
    for name, value in GOLDEN_SHAPES:
        assert s.weight(name) == np.float32(value / 100), name
    np.testing.assert_allclose(s.head_rad, unity_euler_ypr_rad(12.5, -7.25, 3.75), atol=1e-6)  # Warudo: (y, x, z)
    np.testing.assert_allclose(s.eye_left_rad, unity_euler_ypr_rad(-1.5, 2.25, -0.5), atol=1e-6)
    np.testing.assert_allclose(s.eye_right_rad, unity_euler_ypr_rad(1.25, -2.5, 0.75), atol=1e-6)
    # The Android app: Apple's raw names, and two inner-brow shapes for ARKit's one (averaged).
    android = dict(doc, BlendShapes=[{"k": apple_raw_name(n), "v": v / 100} for n, v in GOLDEN_SHAPES
                                     if n != "BrowInnerUp"] + [{"k": "browInnerUpLeft", "v": 0.2},
                                                               {"k": "browInnerUpRight", "v": 0.6}])
    a = parse_vts(json.dumps(android).encode(), received_ns=1)
    assert a.weight("BrowInnerUp") == pytest.approx(0.4)
    for left, right in (("browInnerUp_L", "browInnerUp_R"), ("BrowInnerUpLeft", None)):  # other spellings, one side
        shapes = [{"k": left, "v": 0.2}] + ([{"k": right, "v": 0.6}] if right else [])
        b = parse_vts(json.dumps(dict(doc, BlendShapes=shapes)).encode(), received_ns=1)
        assert b.weight("BrowInnerUp") == pytest.approx(0.4 if right else 0.2)
    for name, value in GOLDEN_SHAPES:
        if name != "BrowInnerUp":
            assert a.weight(name) == np.float32(value / 100), name


def test_the_same_head_pose_through_every_source(sender, phone):
    """One pose (yaw 12.5, pitch -7.25, roll 3.75 degrees, in the Unity head-bone convention each
    peer applies) sent as each app sends it publishes the same head_rad within 0.01 rad."""
    yaw, pitch, roll = 12.5, -7.25, 3.75
    want = np.radians([yaw, pitch, roll])
    shapes = "|".join(f"{apple_raw_name(n)}-{v}" for n, v in GOLDEN_SHAPES[:5])
    got = {}
    frame = itertools.count()
    sessions = {
        "livelink": (LiveLinkSource(host=LOCAL, port=0), lambda port: sender.sendto(
            encode_livelink(weights=golden_weights(), head_rad=want), (LOCAL, port))),
        "vmc": (VmcSource(host=LOCAL, port=0), lambda port: sender.sendto(bundle(
            osc("/VMC/Ext/Bone/Pos", "Head", 0.0, 0.0, 0.0, *unity_quaternion(pitch, yaw, roll)),
            osc("/VMC/Ext/Blend/Val", "JawOpen", 0.5), osc("/VMC/Ext/Blend/Apply")), (LOCAL, port))),
        "vts": (VtsSource(phone_host=LOCAL, phone_port=phone.getsockname()[1]), lambda port: phone.sendto(
            json.dumps({"FaceFound": True, "Rotation": {"x": yaw, "y": pitch, "z": roll},
                        "BlendShapes": [{"k": "JawOpen", "v": 0.5}]}).encode(), (LOCAL, port))),
        "ifacialmocap": (IFacialMocapSource(phone_host=LOCAL, phone_port=phone.getsockname()[1]),
                         lambda port: phone.sendto(  # a live face: each frame differs (here, in translation)
                             f"{shapes}|=head#{pitch},{yaw},{roll},{next(frame) * 1e-4:.4f},0,0|".encode(),
                             (LOCAL, IFM_PORT))),
    }
    for name, (source, send) in sessions.items():
        session = Session(source)
        try:
            got[name] = session.send_until_received(lambda: send(session.port), lambda m: m.head_rad is not None
                                                    ).head_rad
        finally:
            session.close()
            drain(phone)
    for name, head in got.items():
        np.testing.assert_allclose(head, want, atol=0.01, err_msg=name)


def test_vmc_golden_every_field():
    """Perfect Sync clips (ARKit names) with 52 distinct values and the head bone, in one bundle as
    VSeeFace-style senders pack a frame; the head checked against Unity's own Euler reading."""
    contents = [osc("/VMC/Ext/OK", 1), osc("/VMC/Ext/T", 12.5),
                osc("/VMC/Ext/Bone/Pos", "Head", 0.01, 0.02, 0.03, *unity_quaternion(-7.25, 12.5, 3.75))]
    contents += [val(name, value / 100) for name, value in GOLDEN_SHAPES] + [APPLY]
    s = parse_vmc(bundle(*contents), VmcState(), received_ns=1)
    for name, value in GOLDEN_SHAPES:
        assert s.weight(name) == np.float32(value / 100), name
    np.testing.assert_allclose(s.head_rad, unity_euler_ypr_rad(-7.25, 12.5, 3.75), atol=1e-6)
