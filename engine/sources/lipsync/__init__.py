"""Lip-sync: the microphone (or a WAV file) drives the mouth, live and in offline renders.

Data flow: audio input (:mod:`.audio`: ``mic[:DEVICE]`` through PortAudio, ``wav:PATH`` in real time) ->
features every 10 ms (:mod:`.features`: level, formants by linear prediction) -> visemes and ARKit mouth shapes
(:mod:`.analyzer`, :mod:`.visemes`; One Euro smoothed) -> mixed with the tracker's mouth (:mod:`.mix`,
``--lipsync-mix``) in :class:`~.source.LipsyncSource`, which wraps the face source, so the rest of the loop
(retarget, render, publish) is unchanged.

Why this method: the analysis is the classic formant one (linear prediction, vowels by their distance from
templates in Bark), written here with numpy/scipy. The package the issue suggests, ``pylipsync`` (a port of
uLipSync's MFCC templates), pins ``numpy<2.4`` (facecast runs on 2.4), pulls in librosa, reads whole files
rather than a 10 ms stream, has no closed-lip class, and ships templates of one recorded voice; formant templates
have published averages across many speakers (:data:`~.visemes.DEFAULT_VOWELS_HZ`) and a user's own take only
five vowels (``facecast calibrate lipsync``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from facecast.engine.sources.base import Source, SourceError
from facecast.engine.sources.lipsync.analyzer import LipsyncAnalyzer, LipsyncFrame
from facecast.engine.sources.lipsync.audio import AudioInput, MicAudio, WavAudio, list_input_devices
from facecast.engine.sources.lipsync.mix import MIX_MODES, MouthMixer
from facecast.engine.sources.lipsync.source import LipsyncSource
from facecast.engine.sources.lipsync.visemes import MOUTH_CHANNELS, VISEMES, VowelTemplates

LIPSYNC_SPECS = ("mic[:DEVICE]", "wav:PATH")


def open_audio(spec: str) -> AudioInput:
    """The (unopened) audio input of a ``--lipsync`` spec. Raises :class:`SourceError` for a bad spec."""
    kind, sep, arg = spec.partition(":")
    if kind == "mic":
        return MicAudio(arg or None)
    if kind == "wav" and arg:
        return WavAudio(Path(arg))
    raise SourceError(f"--lipsync {spec!r}: use {' or '.join(LIPSYNC_SPECS)}")


def lipsync_source(tracker: Optional[Source], spec: str, *, mix: str = "auto",
                   templates: Optional[VowelTemplates] = None) -> LipsyncSource:
    """``tracker`` (or none) with its mouth driven by the audio of ``spec`` (unopened). Without a tracker,
    ``auto`` is ``replace``: there is no other mouth to ease from."""
    try:
        mixer = MouthMixer("replace" if tracker is None and mix == "auto" else mix)  # no tracker: the audio's
    except ValueError as exc:
        raise SourceError(str(exc)) from None
    return LipsyncSource(tracker=tracker, audio=open_audio(spec), analyzer=LipsyncAnalyzer(templates), mixer=mixer)


__all__ = ["AudioInput", "LIPSYNC_SPECS", "LipsyncAnalyzer", "LipsyncFrame", "LipsyncSource", "MIX_MODES",
           "MOUTH_CHANNELS", "MicAudio", "MouthMixer", "VISEMES", "VowelTemplates", "WavAudio",
           "list_input_devices", "lipsync_source", "open_audio"]
