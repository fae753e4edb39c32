"""Per-shape gains of the hand-authored fields (1 where not listed), fitted in
closed loop on the astronaut portrait at 512x512 with

    facecast calibrate fit-portrait --portrait astronaut --out gains.npz

(bounded to 0.7..1.75; see :mod:`facecast.calibration.portrait_fit`). The fields
are written in inter-ocular distances, so the same gains serve other faces;
refit for a face with ``--portrait-gains``.
"""

import numpy as np

from facecast.engine.types import NUM_ARKIT, arkit_index

FITTED_GAINS = {
    "EyeBlinkLeft": 1.75,
    "EyeWideLeft": 1.2,
    "EyeWideRight": 0.7,
    "MouthPucker": 0.85,
    "MouthStretchLeft": 0.85,
    "MouthStretchRight": 0.7,
    "BrowDownLeft": 1.45,
    "BrowDownRight": 1.2,
    "BrowInnerUp": 0.7,
    "BrowOuterUpLeft": 0.85,
    "BrowOuterUpRight": 1.2,
}

DEFAULT_GAINS = np.ones(NUM_ARKIT)
for _name, _gain in FITTED_GAINS.items():
    DEFAULT_GAINS[arkit_index(_name)] = _gain
