"""Property-based fuzzing of the four network parsers: at least 10,000 inputs each.

Inputs are random bytes, golden packets mutated at the byte level (flipped
bytes, truncations, extensions, NaN/inf floats and huge lengths written at
random or at meaningful offsets, text tokens spliced in) and protocol-shaped
inputs with random contents (wrong types, extreme numbers, NaN/inf). The
protocol-shaped inputs are generated from a Hypothesis-drawn seed with
``random.Random``: far cheaper per input than fine-grained draws, which keeps
10,000 inputs per parser well under 20 s on a 2-core machine.

Properties: no exception escapes; the result is a FaceSample, a Rejection
(or, for VMC, None); every sample has 52 finite weights in [0, 1] and finite
angles; a rejected VMC datagram leaves the state unchanged. Derandomized, so
CI runs the same inputs every time.
"""

import json
import random
import struct
import warnings
from collections import Counter

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message_builder import OscMessageBuilder

from facecast.engine.sources.base import Rejection
from facecast.engine.sources.ifacialmocap import parse_ifacialmocap
from facecast.engine.sources.livelink import encode_livelink, parse_livelink
from facecast.engine.sources.vmc import VmcState, parse_vmc, quiet_python_osc
from facecast.engine.sources.vts import parse_vts
from facecast.engine.types import ARKIT_NAMES, NUM_ARKIT, FaceSample
from test_sources_network import IFM_TEXT, golden_vmc, golden_weights, vts_doc

EXAMPLES = 10_000
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.large_base_example])

NAN_INF_F32 = [struct.pack(">f", v) for v in (float("nan"), float("inf"), -float("inf"), 3.4e38, -1.0, 2.0)]
HUGE_I32 = [struct.pack(">i", v) for v in (0x7FFFFFFF, -1, -0x80000000, 0x10000, 256)]
TEXT_TOKENS = [b"NaN", b"nan", b"inf", b"-Infinity", b"1e999", b"-", b"--", b"&", b"|", b"#", b",", b"=", b"\x00",
               b'"', b"{", b"}", b"[", b"]", b":", b"1" * 400, b"\xff", b"\xc3", b"#bundle\x00", b"/VMC/Ext/Blend/Apply"]
NAMES = list(ARKIT_NAMES) + ["eyeBlink_L", "mouthSmile_R", "jawOpen", "A", "blink_r", "Joy", "HEAD", "", "x" * 80,
                             "\u00e9\u4e2d", "Blink_", "_L"]


def check(result):
    """The parser contract: a sample, a rejection or None; samples finite, weights in [0, 1].
    Returns the kind of result, for the coverage counts."""
    if isinstance(result, tuple):  # Live Link: (subject, sample)
        name, result = result
        assert isinstance(name, str)
    assert result is None or isinstance(result, (Rejection, FaceSample)), type(result)
    if isinstance(result, Rejection):
        assert isinstance(result.reason, str) and result.reason
    if isinstance(result, FaceSample):
        w = result.weights
        assert w.shape == (NUM_ARKIT,) and np.isfinite(w).all() and w.min() >= 0.0 and w.max() <= 1.0
        for a in (result.head_rad, result.eye_left_rad, result.eye_right_rad):
            assert a is None or (a.shape == (3,) and np.isfinite(a).all())
    return type(result).__name__


def run_fuzz(strategy, target, *, min_share=0.03):
    """Run ``target`` (which returns :func:`check`'s kind) on EXAMPLES inputs from
    ``strategy``; assert that many really ran, and that samples and rejections each
    make up at least ``min_share`` of them (the inputs reach the deep paths)."""
    kinds = Counter()

    @FUZZ
    @given(strategy)
    def body(data):
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)  # a numpy overflow is a bug too
            kinds[target(data)] += 1

    body()
    total = sum(kinds.values())
    print(f"fuzz outcomes: {dict(kinds)}")
    assert total >= EXAMPLES, kinds
    assert kinds["FaceSample"] >= min_share * total and kinds["Rejection"] >= min_share * total, kinds


# --------------------------------------------------------------------------- #
# Byte-level mutation of a golden packet


@st.composite
def mutated(draw, golden: bytes, float_offsets=(), length_offsets=()):
    """``golden`` after 1-3 random mutations, or random bytes."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=700))
    data = bytearray(golden)
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.integers(0, 6))
        end = len(data)
        if kind == 0 and end:  # flip bytes
            for _ in range(draw(st.integers(1, 8))):
                data[draw(st.integers(0, end - 1))] = draw(st.integers(0, 255))
        elif kind == 1:  # truncate
            del data[draw(st.integers(0, end)):]
        elif kind == 2:  # extend
            data += draw(st.binary(min_size=1, max_size=300))
        elif kind == 3 and end >= 4:  # a special float or a huge int anywhere
            at = draw(st.integers(0, end - 4))
            data[at:at + 4] = draw(st.sampled_from(NAN_INF_F32 + HUGE_I32))
        elif kind == 4 and float_offsets:  # NaN/inf at a float the protocol reads
            at = draw(st.sampled_from(float_offsets))
            if at + 4 <= end:
                data[at:at + 4] = draw(st.sampled_from(NAN_INF_F32))
        elif kind == 5 and length_offsets:  # a huge or negative length where a length is
            at = draw(st.sampled_from(length_offsets))
            if at + 4 <= end:
                data[at:at + 4] = draw(st.sampled_from(HUGE_I32))
        else:  # splice a text token
            at = draw(st.integers(0, end))
            data[at:at] = draw(st.sampled_from(TEXT_TOKENS))
    return bytes(data)


# --------------------------------------------------------------------------- #
# Protocol-shaped inputs from a drawn seed

seeds = st.integers(0, 2**32 - 1)
SPECIAL_NUMBERS = [float("nan"), float("inf"), -float("inf"), 1e300, -1e300, 3.4e38, 1e-45, -0.0, 0.0, 1.0, -1.0,
                   100.0, 360.0, 361.0, -720.0, 7.0]


def extreme_float(rng: random.Random, scale: float = 1.0) -> float:
    """Uniform in +-2 scale, or with probability ``rng.special`` a special number."""
    return rng.choice(SPECIAL_NUMBERS) if rng.random() < rng.special else rng.uniform(-2 * scale, 2 * scale)


def seeded(seed: int) -> random.Random:
    """A generator whose inputs hold no special numbers (a third of the time), a few, or many."""
    rng = random.Random(seed)
    rng.special = rng.choice([0.0, 0.01, 0.1])
    return rng


def any_text(rng: random.Random, n: int = 8) -> str:
    return "".join(chr(rng.choice([rng.randrange(32, 127), rng.randrange(0, 0x3000)])) for _ in range(rng.randrange(n)))


# --------------------------------------------------------------------------- #
# Live Link Face

LIVELINK = encode_livelink(weights=golden_weights(), head_rad=(0.1, 0.2, 0.3), subject="Alice", device_id="dev")
_LL_VALUES = len(LIVELINK) - 61 * 4
LIVELINK_FLOATS = tuple(_LL_VALUES + 4 * i for i in range(61)) + (21,)  # values and the subframe
LIVELINK_LENGTHS = (1, 8)  # device id length, subject name length


def livelink_shaped(seed: int) -> bytes:
    """Well-formed packets with extreme contents."""
    rng = seeded(seed)
    weights = [extreme_float(rng) for _ in range(52)]
    angles = [[extreme_float(rng, 3.0) for _ in range(3)] for _ in range(3)]
    with np.errstate(over="ignore"):  # 1e300 becomes inf, as intended
        weights32 = np.array(weights, np.float64).astype(np.float32)
    return encode_livelink(weights=weights32, head_rad=angles[0],
                           eye_left_rad=angles[1], eye_right_rad=angles[2], subject=any_text(rng),
                           device_id=any_text(rng), frame=rng.randrange(-2**31, 2**31),
                           version=rng.choice([6, 6, 6, 5, 7]))


def test_fuzz_livelink():
    run_fuzz(st.one_of(mutated(LIVELINK, LIVELINK_FLOATS, LIVELINK_LENGTHS), seeds.map(livelink_shaped)),
             lambda data: check(parse_livelink(data, received_ns=0)))


# --------------------------------------------------------------------------- #
# iFacialMocap

IFM = IFM_TEXT.encode()
NUMBER_TEXTS = ["nan", "inf", "-inf", "1e999", "-0", "1e-05", "", "1,2", "x", "1_0", "--3", "1" * 50]


def number_text(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.15:
        return rng.choice(NUMBER_TEXTS)
    if r < 0.2:
        return any_text(rng, 5)
    return repr(extreme_float(rng, 100.0)) if r < 0.6 else str(rng.randrange(-20, 120))


def ifacialmocap_shaped(seed: int) -> bytes:
    """Text built from plausible and implausible entries."""
    rng = seeded(seed)
    items = []
    for _ in range(rng.randrange(60)):
        if rng.random() < 0.12:
            key = rng.choice(["=head", "head", "leftEye", "rightEye", "other", ""])
            items.append(key + "#" + ",".join(number_text(rng) for _ in range(rng.randrange(8))))
        else:
            items.append(rng.choice(NAMES) + rng.choice(["-", "-", "&", "--", "", "#"]) + number_text(rng))
    return "|".join(items).encode("utf-8", "surrogatepass")


def test_fuzz_ifacialmocap():
    run_fuzz(st.one_of(mutated(IFM), seeds.map(ifacialmocap_shaped)),
             lambda data: check(parse_ifacialmocap(data, received_ns=0)))


# --------------------------------------------------------------------------- #
# VMC

VMC = golden_vmc()
ADDRESSES = ["/VMC/Ext/Blend/Val"] * 4 + ["/VMC/Ext/Blend/Apply", "/VMC/Ext/Bone/Pos", "/VMC/Ext/Root/Pos",
                                          "/VMC/Ext/OK", "/other"]


def f32(rng: random.Random) -> float:
    """An OSC float argument: :func:`extreme_float` rounded to float32 (1e300 becomes inf)."""
    with np.errstate(over="ignore"):
        return float(np.float32(extreme_float(rng)))


def osc_arg(rng: random.Random):
    kind = rng.randrange(6)
    if kind == 0:
        return rng.randrange(-2**31, 2**31)
    if kind == 1:
        return rng.choice(NAMES) or "x"
    if kind == 2:
        return any_text(rng)
    if kind == 3:
        return rng.random() < 0.5
    if kind == 4:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 9)))
    return f32(rng)


def osc_message(rng: random.Random):
    address = rng.choice(ADDRESSES)
    b = OscMessageBuilder(address)
    if address == "/VMC/Ext/Bone/Pos" and rng.random() < 0.6:
        args = ["Head"] + [f32(rng) for _ in range(rng.choice([7, 7, 7, 6, 8]))]
    elif address == "/VMC/Ext/Blend/Val" and rng.random() < 0.7:
        args = [rng.choice(NAMES) or "x", osc_arg(rng) if rng.random() < 0.2 else f32(rng)]
    else:
        args = [osc_arg(rng) for _ in range(rng.randrange(4))]
    for a in args:
        b.add_arg(a)
    return b.build()


def vmc_shaped(seed: int) -> bytes:
    """Real OSC built with python-osc: bundles, nested bundles, single messages."""
    rng = seeded(seed)
    if rng.random() < 0.2:
        return osc_message(rng).dgram
    outer = OscBundleBuilder(IMMEDIATELY)
    for _ in range(rng.randrange(13)):
        if rng.random() < 0.1:
            inner = OscBundleBuilder(IMMEDIATELY)
            inner.add_content(osc_message(rng))
            outer.add_content(inner.build())
        else:
            outer.add_content(osc_message(rng))
    if rng.random() < 0.5:  # most real frames end with an Apply
        outer.add_content(OscMessageBuilder("/VMC/Ext/Blend/Apply").build())
    return outer.build().dgram


PRIME = OscBundleBuilder(IMMEDIATELY)
for _name, _value in (("JawOpen", 0.5), ("Joy", 0.25)):
    _b = OscMessageBuilder("/VMC/Ext/Blend/Val")
    _b.add_arg(_name)
    _b.add_arg(_value)
    PRIME.add_content(_b.build())
PRIME = PRIME.build().dgram


def vmc_target(data):
    state = VmcState()
    assert parse_vmc(PRIME, state) is None  # a state with something in it
    clips, head = state.clips.copy(), state.head_rad
    result = parse_vmc(data, state, received_ns=0)
    kind = check(result)
    if isinstance(result, Rejection):  # rejected whole: nothing changed
        np.testing.assert_array_equal(state.clips, clips)
        assert state.head_rad is head
    assert np.isfinite(state.clips).all() and state.clips.min() >= 0 and state.clips.max() <= 1
    return kind


def test_fuzz_vmc():
    quiet_python_osc()  # python-osc would log a warning for many of these inputs
    run_fuzz(st.one_of(mutated(VMC), seeds.map(vmc_shaped)), vmc_target)


# --------------------------------------------------------------------------- #
# VTube Studio

VTS = json.dumps(vts_doc()).encode()


def json_value(rng: random.Random, depth: int = 0):
    kind = rng.randrange(8 if depth < 3 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return rng.random() < 0.5
    if kind == 2:
        return extreme_float(rng, 400.0)
    if kind == 3:
        return rng.choice([10**400, -10**30, 0, 1, 360, 1000])
    if kind in (4, 5):
        return rng.choice(NAMES) if rng.random() < 0.5 else any_text(rng)
    if kind == 6:
        return [json_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {any_text(rng, 4): json_value(rng, depth + 1) for _ in range(rng.randrange(4))}


def angle(rng: random.Random):
    if rng.random() < 0.2:
        return json_value(rng)
    return {axis: (json_value(rng) if rng.random() < 0.1 else extreme_float(rng, 200.0)) for axis in "xyz"
            if rng.random() < 0.95}


def shape_entry(rng: random.Random):
    if rng.random() < 0.05:
        return json_value(rng)
    return {"k": rng.choice(NAMES) if rng.random() < 0.95 else json_value(rng),
            "v": extreme_float(rng) if rng.random() < 0.9 else json_value(rng)}


def vts_shaped(seed: int) -> bytes:
    """Documents with the right keys and random (often wrong) values; NaN literals included."""
    rng = seeded(seed)
    if rng.random() < 0.05:
        return json.dumps(json_value(rng)).encode()
    doc = {"FaceFound": rng.random() < 0.9 if rng.random() < 0.9 else json_value(rng),
           "Rotation": angle(rng), "EyeLeft": angle(rng), "EyeRight": angle(rng), "Position": angle(rng),
           "BlendShapes": [shape_entry(rng) for _ in range(rng.randrange(60))] if rng.random() < 0.9
           else json_value(rng)}
    for key in list(doc):
        if rng.random() < 0.1:
            del doc[key]
    return json.dumps(doc).encode()


def test_fuzz_vts():
    run_fuzz(st.one_of(mutated(VTS), seeds.map(vts_shaped)), lambda data: check(parse_vts(data, received_ns=0)))
