"""Face sources: where face samples come from.

A source spec on the command line picks one (``open_source``):

| spec | source | module |
|---|---|---|
| ``demo`` | built-in looping expression script | ``demo.py`` |
| ``csv:PATH`` | Live Link Face CSV playback | ``livelink_csv.py`` |
| ``webcam:[INDEX]``, ``video:PATH`` | OpenCV capture + MediaPipe FaceLandmarker | ``mediapipe_source.py`` |
| ``livelink:[HOST:]PORT`` | Epic Live Link Face app, UDP (default port 11111) | ``livelink.py`` |
| ``ifacialmocap:PHONE_IP`` | iFacialMocap app, UDP 49983 | ``ifacialmocap.py`` |
| ``vmc:[HOST:]PORT`` | VMC protocol over OSC (default port 39539) | ``vmc.py`` |
| ``vts:PHONE_IP`` | VTube Studio iPhone app, UDP 21412 | ``vts.py`` |

Network sources listen on 127.0.0.1 unless the spec's HOST or ``bind_host``
says otherwise: a phone on Wi-Fi needs ``--source-bind 0.0.0.0``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from facecast.engine.sources.base import DEFAULT_BIND_HOST, Emit, Rejection, Rejections, Source, SourceError
from facecast.engine.sources.demo import DemoSource
from facecast.engine.sources.ifacialmocap import IFacialMocapSource
from facecast.engine.sources.livelink import DEFAULT_PORT as LIVELINK_PORT
from facecast.engine.sources.livelink import LiveLinkSource
from facecast.engine.sources.livelink_csv import LiveLinkCsvSource, check_csv_options
from facecast.engine.sources.mediapipe_source import MediaPipeSource
from facecast.engine.sources.vmc import DEFAULT_PORT as VMC_PORT
from facecast.engine.sources.vmc import VmcSource
from facecast.engine.sources.vts import VtsSource


SOURCE_SPECS = ("demo", "csv:PATH", "webcam:[INDEX]", "video:PATH", "livelink:[HOST:]PORT",
                "ifacialmocap:PHONE_IP", "vmc:[HOST:]PORT", "vts:PHONE_IP")


@dataclass(frozen=True, kw_only=True)
class SourceOptions:
    """Options that apply to some sources; each source reads the ones it understands.

    Attributes:
        loop: ``csv``/``video``: start again at the end.
        timecode_fps: ``csv``: the recording's frame rate (default: inferred).
        take_file: ``csv`` of a take folder: ``cal`` (default), ``raw`` or ``neutral``.
        bind_host: network sources: the local address to listen on.
        subject: ``livelink``: accept only this subject name (None: any).
        model_path: ``webcam``/``video``: the ``face_landmarker.task`` file.
        flame: ``webcam``/``video``: ``smirk:PATH`` to also estimate FLAME from every frame with SMIRK's
            expression encoder (``PATH``: ``SMIRK_em1.pt``); None: blendshapes only.
    """

    loop: bool = False
    timecode_fps: Optional[float] = None
    take_file: Optional[str] = None
    bind_host: str = DEFAULT_BIND_HOST
    subject: Optional[str] = None
    model_path: Optional[Path] = None
    flame: Optional[str] = None


def smirk_checkpoint(flame: Optional[str]) -> Optional[Path]:
    """The checkpoint of a ``smirk:PATH`` FLAME spec (None for None).

    Raises:
        SourceError: another spec, or no path.
    """
    if flame is None:
        return None
    kind, _, path = flame.partition(":")
    if kind != "smirk" or not path:
        raise SourceError(f"--flame {flame!r}: use smirk:PATH, PATH being SMIRK's SMIRK_em1.pt")
    return Path(path)


def _host_port(arg: str, default_port: int, default_host: str) -> tuple[str, int]:
    """``[HOST:]PORT`` (or empty) -> (host, port)."""
    host, sep, port = arg.rpartition(":")
    if not sep:
        host, port = "", arg
    try:
        port_num = int(port) if port else default_port
    except ValueError:
        raise SourceError(f"port {port!r} in {arg!r} is not a number") from None
    if not 0 < port_num < 65536:
        raise SourceError(f"port {port_num} is outside 1..65535")
    return host.strip("[]") or default_host, port_num


def open_source(spec: str, options: SourceOptions = SourceOptions()) -> Source:
    """Create (not yet open) the source named by ``spec``.

    Raises:
        SourceError: the spec names no known source; the message lists the known ones.
    """
    kind, sep, arg = spec.partition(":")
    o = options
    check_csv_options(spec, timecode_fps=o.timecode_fps, take_file=o.take_file)
    smirk = smirk_checkpoint(o.flame)
    if smirk is not None and kind not in ("webcam", "video"):
        raise SourceError(f"--flame {o.flame} needs the frames: use it with a webcam: or video: source ({spec!r} "
                          "sends blendshapes only; use --flame-map for it)")
    if kind == "demo" and not sep:
        return DemoSource()
    if kind == "csv" and arg:
        return LiveLinkCsvSource(arg, loop=o.loop, timecode_fps=o.timecode_fps, take_file=o.take_file)
    if kind == "webcam":
        try:
            index = int(arg) if arg else 0
        except ValueError:
            raise SourceError(f"webcam index {arg!r} is not a number (try webcam:0)") from None
        return MediaPipeSource.webcam(index, model_path=o.model_path, smirk=smirk)
    if kind == "video" and arg:
        return MediaPipeSource.video(Path(arg), model_path=o.model_path, loop=o.loop, smirk=smirk)
    if kind == "livelink":
        host, port = _host_port(arg, LIVELINK_PORT, o.bind_host)
        return LiveLinkSource(host=host, port=port, subject=o.subject)
    if kind == "ifacialmocap" and arg:
        return IFacialMocapSource(phone_host=arg, bind_host=o.bind_host)
    if kind == "vmc":
        host, port = _host_port(arg, VMC_PORT, o.bind_host)
        return VmcSource(host=host, port=port)
    if kind == "vts" and arg:
        return VtsSource(phone_host=arg, bind_host=o.bind_host)
    raise SourceError(f"unknown source {spec!r}; known sources: {', '.join(SOURCE_SPECS)}")


__all__ = ["DEFAULT_BIND_HOST", "Emit", "Rejection", "Rejections", "Source", "SourceError",
           "SourceOptions", "SOURCE_SPECS", "open_source"]
