"""Whose blendshapes a source spec carries. An ARKit -> FLAME map is fitted on one tracker's weights
(``facecast calibrate make-pairs`` runs MediaPipe), and the same face reads differently through
MediaPipe's blendshape model and Apple's ARKit: a map is right only for the tracker it was fitted on."""

from __future__ import annotations

#: Source kind (the spec before ``:``) -> the tracker that computes its blendshapes.
TRACKERS = {"webcam": "mediapipe", "video": "mediapipe", "csv": "arkit", "livelink": "arkit",
            "ifacialmocap": "arkit", "vts": "arkit", "vmc": "vmc", "demo": "demo"}


def tracker_of(spec: str) -> str:
    """The tracker behind a source spec (``webcam:0`` -> ``mediapipe``, ``livelink:11111`` -> ``arkit``);
    the spec's kind itself when unknown."""
    kind = spec.partition(":")[0]
    return TRACKERS.get(kind, kind)
