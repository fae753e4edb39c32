"""Angle limits of the network sources, and the degree conversion of the phone apps that
send Euler angles in degrees (iFacialMocap, VTube Studio)."""

from __future__ import annotations

import math
from typing import Union

import numpy as np

from facecast.engine.sources.base import Rejection

#: Rotations beyond this magnitude reject the datagram (one full turn), in both units.
MAX_ANGLE_DEG = 360.0
MAX_ANGLE_RAD = math.radians(MAX_ANGLE_DEG)


def yaw_pitch_roll_from_degrees(*, pitch_deg: float, yaw_deg: float, roll_deg: float,
                                what: str) -> Union[np.ndarray, Rejection]:
    """Finite degrees (x = pitch, y = yaw, z = roll) -> (yaw, pitch, roll) float32 radians
    wrapped to (-pi, pi]; an ``out-of-range`` :class:`Rejection` naming ``what`` beyond
    +-:data:`MAX_ANGLE_DEG`."""
    if max(abs(pitch_deg), abs(yaw_deg), abs(roll_deg)) > MAX_ANGLE_DEG:
        return Rejection("out-of-range", f"{what} beyond {MAX_ANGLE_DEG:g} degrees")
    deg = np.array([yaw_deg, pitch_deg, roll_deg], np.float64)
    return np.radians(180.0 - (180.0 - deg) % 360.0).astype(np.float32)
