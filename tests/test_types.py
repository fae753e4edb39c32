import numpy as np
import pytest

from facecast.engine.types import (ARKIT_NAMES, FLAME_DIM, MEDIAPIPE_NAMES, FaceSample, FlameParams, Frame,
                                   PixelFormat, arkit_from_mapping, arkit_from_mediapipe, arkit_index)


#: Unreal's ``EARFaceBlendShape`` (AugmentedReality module, ``ARTypes.h``), values 0..60 in order, written
#: here from the engine's reflected enum as SDK dumps of shipped UE games list it (e.g. "Enum
#: AugmentedReality.EARFaceBlendShape ... EyeBlinkLeft = 0 ... RightEyeRoll = 60, MAX = 61"), not from
#: facecast's own tables. The first 52 are ARKit's blendshapes; Live Link Face sends all 61 in this order.
UNREAL_EAR_FACE_BLEND_SHAPE = (
    "EyeBlinkLeft", "EyeLookDownLeft", "EyeLookInLeft", "EyeLookOutLeft", "EyeLookUpLeft", "EyeSquintLeft",
    "EyeWideLeft", "EyeBlinkRight", "EyeLookDownRight", "EyeLookInRight", "EyeLookOutRight", "EyeLookUpRight",
    "EyeSquintRight", "EyeWideRight", "JawForward", "JawLeft", "JawRight", "JawOpen", "MouthClose", "MouthFunnel",
    "MouthPucker", "MouthLeft", "MouthRight", "MouthSmileLeft", "MouthSmileRight", "MouthFrownLeft",
    "MouthFrownRight", "MouthDimpleLeft", "MouthDimpleRight", "MouthStretchLeft", "MouthStretchRight",
    "MouthRollLower", "MouthRollUpper", "MouthShrugLower", "MouthShrugUpper", "MouthPressLeft", "MouthPressRight",
    "MouthLowerDownLeft", "MouthLowerDownRight", "MouthUpperUpLeft", "MouthUpperUpRight", "BrowDownLeft",
    "BrowDownRight", "BrowInnerUp", "BrowOuterUpLeft", "BrowOuterUpRight", "CheekPuff", "CheekSquintLeft",
    "CheekSquintRight", "NoseSneerLeft", "NoseSneerRight", "TongueOut",
    "HeadYaw", "HeadPitch", "HeadRoll", "LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll", "RightEyeYaw",
    "RightEyePitch", "RightEyeRoll",
)


def test_arkit_order_matches_unreal_enum():
    """All 52 positions, so a consistent swap in facecast's tables (MouthLeft/MouthRight) is caught."""
    assert len(UNREAL_EAR_FACE_BLEND_SHAPE) == 61 and len(set(UNREAL_EAR_FACE_BLEND_SHAPE)) == 61
    assert ARKIT_NAMES == UNREAL_EAR_FACE_BLEND_SHAPE[:52]


@pytest.mark.parametrize("name", ["EyeBlinkLeft", "eyeBlinkLeft", "eyeBlink_L", " EYEBLINKLEFT "])
def test_name_forms(name):
    assert arkit_index(name) == 0


def test_apple_raw_right_and_unknown():
    assert ARKIT_NAMES[arkit_index("mouthSmile_R")] == "MouthSmileRight"
    assert ARKIT_NAMES[arkit_index("cheekPuff")] == "CheekPuff"
    with pytest.raises(KeyError, match="noseWiggle"):
        arkit_index("noseWiggle")


def test_mediapipe_order_and_conversion():
    assert MEDIAPIPE_NAMES[0] == "_neutral" and len(MEDIAPIPE_NAMES) == 52
    assert list(MEDIAPIPE_NAMES[1:]) == sorted(MEDIAPIPE_NAMES[1:])
    assert MEDIAPIPE_NAMES[1] == "browDownLeft" and "tongueOut" not in MEDIAPIPE_NAMES
    scores = np.arange(52, dtype=np.float32) / 100
    w = arkit_from_mediapipe(scores)
    assert w[arkit_index("browDownLeft")] == pytest.approx(0.01)
    assert w[arkit_index("jawOpen")] == pytest.approx(MEDIAPIPE_NAMES.index("jawOpen") / 100)
    assert w[arkit_index("TongueOut")] == 0
    with pytest.raises(ValueError):
        arkit_from_mediapipe(scores[:51])


def test_mapping_conversion():
    w = arkit_from_mapping({"jawOpen": 0.5, "eyeBlink_R": 1.0, "unknownThing": 3})
    assert w[arkit_index("JawOpen")] == 0.5 and w[arkit_index("EyeBlinkRight")] == 1.0
    with pytest.raises(KeyError):
        arkit_from_mapping({"unknownThing": 1}, strict=True)


def test_face_sample_validates_and_clamps():
    w = np.linspace(-1, 2, 52)
    s = FaceSample(capture_wall_ns=1, weights=w, head_rad=[0.1, 0, 0])
    assert s.weights.dtype == np.float32 and s.weights.min() == 0 and s.weights.max() == 1
    assert not s.weights.flags.writeable
    with pytest.raises(ValueError, match="NaN"):
        FaceSample(capture_wall_ns=1, weights=np.full(52, np.nan))
    with pytest.raises(ValueError, match="52"):
        FaceSample(capture_wall_ns=1, weights=np.zeros(51))
    with pytest.raises(ValueError, match="head_rad"):
        FaceSample(capture_wall_ns=1, weights=np.zeros(52), head_rad=[0, 0])


def test_flame_params_validation():
    v = np.zeros(FLAME_DIM, np.float32)
    v[:50] = 1.5
    v[50:52] = [0.2, 1.0]
    v[52:] = [0.3, -0.2, 0.1]
    p = FlameParams.from_vector(v)
    np.testing.assert_array_equal(p.as_vector(), v)
    bad = v.copy()
    bad[52] = -0.1
    with pytest.raises(ValueError, match="jaw"):
        FlameParams.from_vector(bad)
    assert FlameParams.from_vector(bad, clamp=True).jaw_rad[0] == 0
    bad = v.copy()
    bad[51] = 1.5
    with pytest.raises(ValueError, match="eyelid"):
        FlameParams.from_vector(bad)
    bad[53] = 0.7
    c = FlameParams.from_vector(bad, clamp=True)
    assert c.eyelid[1] == 1.0 and c.jaw_rad[1] == pytest.approx(0.2)
    with pytest.raises(ValueError, match="NaN"):
        FlameParams.from_vector(np.full(FLAME_DIM, np.nan))
    assert not FlameParams.neutral().as_vector().any()


def test_frame_checks_pixels():
    s = FaceSample(capture_wall_ns=1, weights=np.zeros(52))
    assert Frame(sample=s).size == (0, 0)
    f = Frame(sample=s, pixels=np.zeros((4, 6, 4), np.uint8), pixel_format="rgba8")
    assert f.pixel_format is PixelFormat.RGBA8 and f.size == (6, 4)
    with pytest.raises(ValueError):
        Frame(sample=s, pixels=np.zeros((4, 6, 3), np.uint8), pixel_format="rgba8")
    with pytest.raises(ValueError):
        Frame(sample=s, pixels=np.zeros((4, 6, 3), np.float32), pixel_format="rgb8")
    with pytest.raises(ValueError):
        Frame(sample=s, pixels=np.zeros(10, np.uint8), pixel_format="jpeg")
