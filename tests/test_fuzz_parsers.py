"""Property-based fuzzing of every network parser: 10,000 random and mutated inputs each.

A parser must return a sample, a Rejection (or, for VMC, None): no exception
escapes, and every sample is finite with weights in [0, 1].
"""

import json
import struct

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from facecast.engine.sources.base import Rejection
from facecast.engine.sources.ifacialmocap import parse_ifacialmocap
from facecast.engine.sources.livelink import encode_livelink, parse_livelink
from facecast.engine.sources.vmc import VmcState, parse_vmc
from facecast.engine.sources.vts import parse_vts
from facecast.engine.types import FaceSample
from test_sources_network import IFM_TEXT, bundle, golden_weights, osc, vts_doc

FUZZ = settings(max_examples=10_000, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

LIVELINK = encode_livelink(weights=golden_weights(), head_rad=(0.1, 0.2, 0.3), subject="Alice")
IFM = IFM_TEXT.encode()
VMC = bundle(osc("/VMC/Ext/Blend/Val", "JawOpen", 0.5), osc("/VMC/Ext/Blend/Val", "Joy", 1.0),
             osc("/VMC/Ext/Bone/Pos", "Head", 0.0, 1.0, 0.0, 0.0, 0.1, 0.0, 0.99), osc("/VMC/Ext/Blend/Apply"))
VTS = json.dumps(vts_doc()).encode()
SPECIAL_FLOATS = [struct.pack(">f", v) for v in (float("nan"), float("inf"), -float("inf"), 3e38, -1.0, 2.0)]


@st.composite
def mutated(draw, golden: bytes):
    kind = draw(st.integers(0, 5))
    data = bytearray(golden)
    if kind == 0:
        return draw(st.binary(max_size=600))
    if kind == 1:  # flip bytes
        for _ in range(draw(st.integers(1, 10))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    elif kind == 2:  # truncate
        del data[draw(st.integers(0, len(data))):]
    elif kind == 3:  # extend
        data += draw(st.binary(min_size=1, max_size=200))
    elif kind == 4:  # special floats / huge lengths at a random place
        at = draw(st.integers(0, max(0, len(data) - 4)))
        data[at:at + 4] = draw(st.sampled_from(SPECIAL_FLOATS + [b"\x7f\xff\xff\xff", b"\xff\xff\xff\xff"]))
    else:  # splice a text token
        at = draw(st.integers(0, len(data)))
        data[at:at] = draw(st.sampled_from([b"NaN", b"-", b"|", b"#", b",", b"=", b"1e999", b"\x00", b'"', b"{"]))
    return bytes(data)


def check(result):
    assert result is None or isinstance(result, (Rejection, FaceSample, tuple)), type(result)
    sample = result[1] if isinstance(result, tuple) else result
    if isinstance(sample, FaceSample):
        assert np.all(np.isfinite(sample.weights)) and sample.weights.min() >= 0 and sample.weights.max() <= 1
        for a in (sample.head_rad, sample.eye_left_rad, sample.eye_right_rad):
            assert a is None or np.all(np.isfinite(a))


@FUZZ
@given(mutated(LIVELINK))
def test_fuzz_livelink(data):
    check(parse_livelink(data, received_ns=0))


@FUZZ
@given(mutated(IFM))
def test_fuzz_ifacialmocap(data):
    check(parse_ifacialmocap(data, received_ns=0))


@FUZZ
@given(mutated(VMC))
def test_fuzz_vmc(data):
    check(parse_vmc(data, VmcState(), received_ns=0))


@FUZZ
@given(mutated(VTS))
def test_fuzz_vts(data):
    check(parse_vts(data, received_ns=0))
