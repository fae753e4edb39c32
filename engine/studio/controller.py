"""The studio's controls over the running engine: source, renderer, portrait, calibration, profile,
start/stop, and the status the pages show.

Every change is made off the event loop (opening a source or preparing a renderer can take seconds) and
one at a time. A change that fails raises :class:`StudioError` with the reason, and whatever was running
keeps running.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time
from typing import Callable, Optional

import numpy as np

from facecast.calibration.capture import CalibrationError, fit_neutral, fit_range
from facecast.engine.loop import Engine
from facecast.engine.render import RENDERER_NAMES, PortraitOptions, RendererUnavailable, create_renderer
from facecast.engine.retarget.profile import Profile, load_profile, profile_path, profiles_dir, save_profile
from facecast.engine.session import SessionError, SessionSpec
from facecast.engine.sources import SOURCE_SPECS, Source, SourceError, SourceOptions, open_source
from facecast.engine.studio.clients import ClientHub
from facecast.engine.studio.frames import FrameTap
from facecast.engine.studio.portraits import PortraitStore, UploadError
from facecast.engine.studio.swap import SwitchableRenderer, SwitchableRetargeter, SwitchableSource
from facecast.engine.types import ARKIT_NAMES, FaceSample

#: Renderers the studio offers (it shows pictures: not ``none``; ``auto`` was resolved at start).
STUDIO_RENDERERS = tuple(n for n in RENDERER_NAMES if n not in ("none", "auto"))
PROFILE_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
CALIBRATION_SECONDS = (0.5, 30.0)


class StudioError(ValueError):
    """A change the studio could not make; the message says why (shown on the page)."""


@dataclasses.dataclass
class Outputs:
    """What the status reports about the outputs besides the browsers."""

    publish_endpoint: str
    virtualcam: Optional[object] = None  # an engine.outputs.virtualcam.VirtualCamera


def _rounded(values: Optional[np.ndarray], digits: int = 3) -> Optional[list[float]]:
    return None if values is None else [round(float(v), digits) for v in values]


class Studio:
    """The controls of one studio session.

    Args:
        engine: the running engine, built on ``source``, ``renderer`` and ``retargeter``.
        spec: the session's renderer options and profile (the starting point of every change).
        source_options: how sources are opened (bind address, subject, model, ...).
        flame_map: the session's ARKit -> FLAME map, or None.
        tap, hub: the frames for the browsers and the connected browsers.
        portraits: the portrait photos.
        outputs: the ZeroMQ endpoint and the virtual camera.
        lan_address: this machine's address on the local network (for phone setup), or None.
        wrap_source: applied to every source the page opens (``--lipsync``: the audio drives its mouth, a new
            :class:`~facecast.engine.sources.lipsync.LipsyncSource` each time); None: sources as they are.
    """

    def __init__(self, *, engine: Engine, source: SwitchableSource, renderer: SwitchableRenderer,
                 retargeter: SwitchableRetargeter, spec: SessionSpec, source_options: SourceOptions,
                 flame_map, tap: FrameTap, hub: ClientHub, portraits: PortraitStore, outputs: Outputs,
                 lan_address: Optional[str], wrap_source: Optional[Callable[[Source], Source]] = None) -> None:
        self.engine = engine
        self.source = source
        self.renderer = renderer
        self.retargeter = retargeter
        self.spec = spec
        self.source_options = source_options
        self.flame_map = flame_map
        self.tap = tap
        self.hub = hub
        self.portraits = portraits
        self.outputs = outputs
        self.lan_address = lan_address
        self.wrap_source = wrap_source
        self.portrait_id = "cli" if "cli" in portraits.ids() else "astronaut"
        self.busy: Optional[str] = None
        self.last_error: Optional[str] = None
        self._lock = asyncio.Lock()
        self._last_options = source_options
        self._fps = 0.0
        self._fps_mark = (time.monotonic(), 0)

    # -- changes ----------------------------------------------------------------

    async def _change(self, what: str, work, *args):
        """Run ``work(*args)`` on a worker thread, one change at a time; its error becomes the page's."""
        async with self._lock:
            self.busy = what
            try:
                result = await asyncio.to_thread(work, *args)
                self.last_error = None
                return result
            except StudioError as exc:
                self.last_error = str(exc)
                raise
            finally:
                self.busy = None

    async def set_source(self, spec: str, *, lan: bool = False) -> dict:
        """Open ``spec`` and make it the running source; ``lan``: listen on every interface (a phone on
        Wi-Fi) instead of the session's ``--source-bind``."""
        if not isinstance(spec, str) or not spec or len(spec) > 300:
            raise StudioError(f"a source is one of: {', '.join(SOURCE_SPECS)}")
        if not isinstance(lan, bool):
            raise StudioError("lan is true or false")
        options = dataclasses.replace(self.source_options, bind_host="0.0.0.0") if lan else self.source_options
        await self._change(f"opening {spec}", self._open_source, spec, options)
        return {"source": spec}

    def _open_source(self, spec: str, options: SourceOptions) -> None:
        try:
            new = open_source(spec, options)
            self.source.switch(self.wrap_source(new) if self.wrap_source else new, spec=spec)
            self._last_options = options
        except (SourceError, ValueError, OSError) as exc:
            raise StudioError(f"{spec}: {exc} (the previous source keeps running)") from None

    async def set_running(self, running: bool) -> dict:
        if running and not self.source.running:
            await self._change("starting", self._open_source, self.source.spec or "demo", self._last_options)
        elif not running and self.source.running:
            await self._change("stopping", self.source.pause)
        return {"running": self.source.running}

    async def set_renderer(self, name: str, portrait_id: Optional[str] = None) -> dict:
        if name not in STUDIO_RENDERERS:
            raise StudioError(f"renderer {str(name)[:40]!r}: choose one of {', '.join(STUDIO_RENDERERS)}")
        if portrait_id is not None:
            try:
                self.portraits.path(portrait_id)
            except UploadError as exc:
                raise StudioError(str(exc)) from None
        portrait_id = portrait_id or self.portrait_id
        await self._change(f"preparing the {name} renderer", self._make_renderer, name, portrait_id)
        self.portrait_id = portrait_id
        return {"renderer": name, "portrait": portrait_id}

    def _make_renderer(self, name: str, portrait_id: str) -> None:
        opts = self.spec.options
        photo = self.portraits.path(portrait_id)
        options = dataclasses.replace(opts, portrait=PortraitOptions(photo=photo, gains=opts.portrait.gains))
        try:
            new = create_renderer(name, options, flame_available=self.flame_map is not None)
        except (RendererUnavailable, ValueError) as exc:
            raise StudioError(f"{name}: {exc} (the previous renderer keeps running)") from None
        self.renderer.switch(new)

    async def upload_portrait(self, data: bytes) -> dict:
        """Store an uploaded photo and run the portrait check on it."""
        portrait_id = self.portraits.save(data)  # UploadError: size or type
        return await self._change("checking the photo", self.portraits.check, portrait_id)

    async def check_portrait(self, portrait_id: str) -> dict:
        try:
            self.portraits.path(portrait_id)
        except UploadError as exc:
            raise StudioError(str(exc)) from None
        return await self._change("checking the photo", self.portraits.check, portrait_id)

    async def calibrate(self, step: str, *, seconds: float, profile: str) -> dict:
        """Record the running source's raw samples for ``seconds``, fit ``step`` (``neutral`` or ``range``)
        into the profile ``profile``, save it and apply it."""
        if step not in ("neutral", "range"):
            raise StudioError("calibration step is neutral or range")
        self._check_profile_name(profile)
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) \
                or not CALIBRATION_SECONDS[0] <= seconds <= CALIBRATION_SECONDS[1]:
            raise StudioError(f"seconds must be from {CALIBRATION_SECONDS[0]:g} to {CALIBRATION_SECONDS[1]:g}")
        if not self.source.running:
            raise StudioError("start a source first: calibration records what it sends")
        samples: list[FaceSample] = []
        stop = self.source.record(samples.append)
        self.busy = f"recording the {step} for {seconds:g} s"
        try:
            await asyncio.sleep(seconds)
        finally:
            stop()
            self.busy = None
        return await self._change(f"fitting the {step}", self._fit, step, list(samples), profile)

    def _fit(self, step: str, samples: list[FaceSample], name: str) -> dict:
        path = profile_path(name)
        try:
            profile = load_profile(name) if path.is_file() else Profile(name=name)
            fitted, report = (fit_neutral if step == "neutral" else fit_range)(samples, profile)
        except (CalibrationError, ValueError) as exc:
            raise StudioError(f"{step}: {exc}") from None
        written = save_profile(fitted, path)
        self._apply_profile(name)
        return {"profile": name, "path": str(written), "samples": report.samples,
                "changed": {k: [round(a, 3), round(b, 3)] for k, (a, b) in report.changed.items()}}

    async def use_profile(self, name: Optional[str]) -> dict:
        if name is not None:
            self._check_profile_name(name)
        await self._change("applying the profile", self._apply_profile, name)
        return {"profile": name}

    def _apply_profile(self, name: Optional[str]) -> None:
        try:
            retargeter = dataclasses.replace(self.spec, profile=name).retargeter(self.flame_map)
        except SessionError as exc:
            raise StudioError(str(exc)) from None
        self.retargeter.switch(retargeter, profile=name)

    @staticmethod
    def _check_profile_name(name) -> None:
        if not isinstance(name, str) or not PROFILE_NAME.fullmatch(name):
            raise StudioError("a profile name is 1 to 64 letters, digits, '-' or '_'")

    # -- what the pages show ---------------------------------------------------------

    def state(self) -> dict:
        """What the control page needs once: the choices and the current settings."""
        profiles = sorted(p.stem for p in profiles_dir().glob("*.toml")) if profiles_dir().is_dir() else []
        return {"sources": list(SOURCE_SPECS), "renderers": list(STUDIO_RENDERERS), "portraits": self.portraits.describe(),
                "profiles": profiles, "shapes": list(ARKIT_NAMES), "lan_address": self.lan_address,
                "bind_host": self.source_options.bind_host, "publish": self.outputs.publish_endpoint,
                "background": str(self.spec.options.background),
                "size": [self.spec.options.width, self.spec.options.height], **self._current()}

    def _current(self) -> dict:
        return {"running": self.source.running, "source": self.source.spec, "source_ended": self.source.exhausted,
                "renderer": self.renderer.name, "portrait": self.portrait_id, "profile": self.retargeter.profile}

    def _measure_fps(self) -> float:
        now, frames = time.monotonic(), self.engine.frames
        t0, f0 = self._fps_mark
        if now - t0 >= 1.0:
            self._fps = (frames - f0) / (now - t0)
            self._fps_mark = (now, frames)
        return self._fps

    def status(self) -> dict:
        """The live status (a few times a second per page)."""
        raw = self.source.latest
        frame = self.tap.latest
        counts = self.engine.counters()
        latency = self.engine.timings.percentiles_ms("latency", (50, 95, 99))
        camera = self.outputs.virtualcam
        return {
            "type": "status", "server_wall_ms": time.time_ns() / 1e6, **self._current(), **counts,
            "fps": round(self._measure_fps(), 2), "busy": self.busy, "last_error": self.last_error,
            "errors": self.engine.errors.as_dict() | (camera.errors.as_dict() if camera is not None else {}),
            "rejected": self.source.rejections.as_dict(),
            "engine_latency_ms": [None if np.isnan(v) else round(v, 2) for v in latency],
            "requested": _rounded(raw.weights if raw is not None else None),
            "requested_head_rad": _rounded(raw.head_rad if raw is not None else None),
            "retargeted": _rounded(frame.sample.weights if frame is not None else None),
            "head_rad": _rounded(frame.sample.head_rad if frame is not None else None),
            "mouth": frame.sample.mouth if frame is not None else None,  # tracker, audio (lip-sync) or mixed
            "clients": self.hub.describe(),
            "virtualcam": None if camera is None else {"device": camera.device, "frames_sent": camera.frames_sent},
        }
