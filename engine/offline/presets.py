"""Named expressions for scripts (``facecast render``): ARKit weights, others 0.

Each preset is a plain dict of ARKit names to weights in [0, 1]; ``facecast render
--presets`` prints them. They are written for ARKit's meaning of each shape, so
they read the same on every renderer (through the ARKit -> FLAME map for the
diffusion renderer).
"""

from __future__ import annotations

import numpy as np

from facecast.engine.types import NUM_ARKIT, arkit_index

PRESETS: dict[str, dict[str, float]] = {
    "neutral": {},
    "smile": {"mouthSmileLeft": 0.7, "mouthSmileRight": 0.7, "cheekSquintLeft": 0.3, "cheekSquintRight": 0.3},
    "laugh": {"mouthSmileLeft": 0.9, "mouthSmileRight": 0.9, "jawOpen": 0.55, "cheekSquintLeft": 0.6,
              "cheekSquintRight": 0.6, "eyeSquintLeft": 0.5, "eyeSquintRight": 0.5, "mouthUpperUpLeft": 0.3,
              "mouthUpperUpRight": 0.3},
    "surprise": {"browInnerUp": 0.9, "browOuterUpLeft": 0.8, "browOuterUpRight": 0.8, "eyeWideLeft": 0.8,
                 "eyeWideRight": 0.8, "jawOpen": 0.45, "mouthFunnel": 0.2},
    "anger": {"browDownLeft": 0.9, "browDownRight": 0.9, "eyeSquintLeft": 0.4, "eyeSquintRight": 0.4,
              "noseSneerLeft": 0.4, "noseSneerRight": 0.4, "mouthPressLeft": 0.5, "mouthPressRight": 0.5,
              "jawForward": 0.2},
    "sadness": {"browInnerUp": 0.7, "mouthFrownLeft": 0.7, "mouthFrownRight": 0.7, "mouthShrugLower": 0.4,
                "eyeBlinkLeft": 0.2, "eyeBlinkRight": 0.2},
    "disgust": {"noseSneerLeft": 0.8, "noseSneerRight": 0.8, "mouthUpperUpLeft": 0.6, "mouthUpperUpRight": 0.6,
                "browDownLeft": 0.5, "browDownRight": 0.5, "cheekSquintLeft": 0.4, "cheekSquintRight": 0.4},
    "fear": {"browInnerUp": 0.9, "browOuterUpLeft": 0.4, "browOuterUpRight": 0.4, "eyeWideLeft": 0.9,
             "eyeWideRight": 0.9, "mouthStretchLeft": 0.6, "mouthStretchRight": 0.6, "jawOpen": 0.2},
    "wink_left": {"eyeBlinkLeft": 1.0, "mouthSmileLeft": 0.5, "cheekSquintLeft": 0.4},
    "wink_right": {"eyeBlinkRight": 1.0, "mouthSmileRight": 0.5, "cheekSquintRight": 0.4},
    "pucker": {"mouthPucker": 0.9},
    "kiss": {"mouthPucker": 1.0, "mouthFunnel": 0.3, "eyeBlinkLeft": 0.6, "eyeBlinkRight": 0.6},
    "blink": {"eyeBlinkLeft": 1.0, "eyeBlinkRight": 1.0},
    "jaw_open": {"jawOpen": 1.0},
    "ooh": {"mouthFunnel": 0.8, "jawOpen": 0.3},
    "smirk_left": {"mouthSmileLeft": 0.7, "mouthDimpleLeft": 0.3},
    "smirk_right": {"mouthSmileRight": 0.7, "mouthDimpleRight": 0.3},
    "tongue_out": {"jawOpen": 0.5, "tongueOut": 1.0},
}


def preset_weights(name: str) -> np.ndarray:
    """(52,) float32 weights of preset ``name``.

    Raises:
        KeyError: unknown preset (the message lists the known ones).
    """
    if name not in PRESETS:
        raise KeyError(f"unknown preset {name!r}; known: {', '.join(sorted(PRESETS))}")
    w = np.zeros(NUM_ARKIT, np.float32)
    for shape, value in PRESETS[name].items():
        w[arkit_index(shape)] = value
    return w
