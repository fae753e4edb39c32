"""facecast studio's server as an attacker or a confused client meets it: real HTTP and WebSocket requests to a
real ``facecast studio`` process (the test pattern, for speed): where it listens, path traversal, uploads, cross-site
requests, malformed WebSocket messages, the JSON API's errors, start/stop, and remote mode's access token (also in
Chromium)."""

from __future__ import annotations

import http.client
import io
import json
import time

import numpy as np
import pytest
from PIL import Image
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from conftest import wait_until
from studio_helpers import browser, studio_process

MAX_UPLOAD_MB = 0.3


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    with studio_process("--renderer", "testpattern", "--size", "128x128", "--fps", "30",
                        "--max-upload-mb", str(MAX_UPLOAD_MB),
                        env={"FACECAST_CACHE_DIR": str(cache),
                             "FACECAST_CONFIG_DIR": str(tmp_path_factory.mktemp("config"))}) as s:
        s.cache = cache
        yield s


def raw_get(studio, path: str, headers: dict | None = None) -> tuple[int, bytes]:
    """GET ``path`` exactly as written (no client-side normalisation of ``..``)."""
    host, port = studio.base.split("//")[1].rstrip("/").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.putrequest("GET", path, skip_host=bool(headers and "Host" in headers))
        for k, v in (headers or {}).items():
            conn.putheader(k, v)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def ws_url(studio, query: str = "") -> str:
    return studio.base.replace("http://", "ws://") + "ws" + query


def jpeg(size=(64, 64)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (120, 90, 60)).save(buf, format="JPEG")
    return buf.getvalue()


def test_it_listens_on_loopback_only(studio):
    port = int(studio.base.rstrip("/").rsplit(":", 1)[1])
    rows = [line.split() for line in open("/proc/net/tcp").read().splitlines()[1:]]
    listening = [r[1] for r in rows if r[3] == "0A" and int(r[1].split(":")[1], 16) == port]
    assert listening == [f"0100007F:{port:04X}"]  # 127.0.0.1, nothing else


@pytest.mark.parametrize("path", ["/static/../app.py", "/static/%2e%2e/app.py", "/static/..%2fapp.py",
                                  "/static/%2e%2e%2f%2e%2e%2fcli%2fstudio.py", "/static//etc/passwd",
                                  "/static/....//app.py", "/../../../../etc/passwd", "/view/../../etc/passwd"])
def test_no_path_leaves_the_static_folder(studio, path):
    status, body = raw_get(studio, path)
    assert status in (400, 404), (path, status)
    assert b"import" not in body and b"root:" not in body


def test_the_pages_and_scripts_are_served(studio):
    for path, marker in (("/", b"facecast studio"), ("/view", b"avatar"), ("/static/stream.js", b"FrameStream")):
        status, body = raw_get(studio, path)
        assert status == 200 and marker in body


def test_a_portrait_is_named_by_id_never_by_path(studio):
    code, body = studio.api("api/renderer", {"name": "portrait", "portrait": "../../../etc/passwd"})
    assert code in (400, 404) and "no portrait" in body["error"]
    code, body = studio.api("api/portraits/check", {"id": "/etc/hostname"})
    assert code == 400 and "no portrait" in body["error"]


def test_uploads_are_limited_in_size_and_to_images(studio):
    big = np.random.default_rng(0).integers(0, 255, (400, 400, 3), np.uint8)
    buf = io.BytesIO()
    Image.fromarray(big).save(buf, format="PNG")
    assert len(buf.getvalue()) > MAX_UPLOAD_MB * 1e6
    code, body = studio.api("api/portraits", data=buf.getvalue(), content_type="image/png")
    assert code == 413 and "at most" in body["error"]
    code, body = studio.api("api/portraits", data=b"these are not pixels", content_type="image/png")
    assert code == 415 and "not a readable image" in body["error"]
    gif = io.BytesIO()
    Image.new("RGB", (32, 32)).save(gif, format="GIF")
    code, body = studio.api("api/portraits", data=gif.getvalue(), content_type="image/gif")
    assert code == 415 and "GIF" in body["error"]
    code, body = studio.api("api/portraits", data=jpeg(), content_type="application/octet-stream")
    assert code == 415 and "image/" in body["error"]
    assert not list((studio.cache / "studio" / "portraits").glob("*")) if (studio.cache / "studio").exists() else True
    from facecast.engine.render.portrait.photo import register_heif

    assert register_heif()
    heic = io.BytesIO()  # an iPhone's photo: accepted as such (pillow-heif)
    Image.new("RGB", (64, 64), (128, 120, 110)).save(heic, format="HEIF")
    code, body = studio.api("api/portraits", data=heic.getvalue(), content_type="image/heic")
    assert code == 200 and body["id"].endswith(".heic") and "no face" in body["refusal"], body


def test_an_uploaded_photo_is_checked_and_animated(studio):
    """A real photo (Obama, public domain) is stored under a name the server makes, checked as 'facecast
    portrait check' checks it, and becomes the portrait renderer's; a photo with no face is refused by the check
    and by the renderer, and the running renderer stays."""
    from photo_set import real_photos
    code, body = studio.api("api/portraits", data=real_photos()["obama.jpg"], content_type="image/jpeg")
    assert code == 200 and body["refusal"] is None and "usable: yes" in body["lines"]
    stored = list((studio.cache / "studio" / "portraits").glob("*.jpg"))
    assert [p.name for p in stored] == [body["id"]]
    assert body["id"] in [p["id"] for p in studio.api("api/portraits")[1]["portraits"]]
    wall = io.BytesIO()
    Image.new("RGB", (300, 300), (128, 120, 110)).save(wall, format="PNG")
    code, refused = studio.api("api/portraits", data=wall.getvalue(), content_type="image/png")
    assert code == 200 and "no face" in refused["refusal"]
    code, err = studio.api("api/renderer", {"name": "portrait", "portrait": refused["id"]}, timeout_s=120)
    assert code == 400 and "keeps running" in err["error"]
    assert studio.status()["renderer"] == "testpattern"
    code, done = studio.api("api/renderer", {"name": "portrait", "portrait": body["id"]}, timeout_s=120)
    assert code == 200, done
    assert studio.status()["renderer"] == "portrait" and studio.status()["portrait"] == body["id"]
    code, _ = studio.api("api/renderer", {"name": "testpattern"})
    assert code == 200


def test_cross_site_requests_are_refused(studio):
    code, body = studio.api("api/stream", {"running": False}, headers={"Origin": "http://evil.example"})
    assert code == 403 and "origin" in body
    code, body = studio.api("api/status", headers={"Host": "evil.example:80"})  # DNS rebinding
    assert code == 403 and "loopback" in body
    with pytest.raises(InvalidStatus) as info:
        connect(ws_url(studio), origin="http://evil.example", open_timeout=5)
    assert info.value.response.status_code == 403
    assert studio.status()["running"]
    code, _ = studio.api("api/status", headers={"Origin": studio.base.rstrip("/")})
    assert code == 200


def frames_and_errors(ws, count_frames: int, count_errors: int, timeout_s: float = 10.0):
    """Read (acknowledging each status and frame) until ``count_frames`` frames and ``count_errors`` errors came."""
    frames, errors = 0, []
    deadline = time.monotonic() + timeout_s
    while (frames < count_frames or len(errors) < count_errors) and time.monotonic() < deadline:
        message = ws.recv(timeout=timeout_s)
        if isinstance(message, bytes):
            frames += 1
            ws.send(json.dumps({"type": "ack"}))
            continue
        data = json.loads(message)
        if data["type"] == "error":
            errors.append(data["error"])
        elif data["type"] == "status":
            ws.send(json.dumps({"type": "ack"}))
    return frames, errors


def test_malformed_websocket_messages_are_answered_and_the_stream_goes_on(studio):
    bad = ["not json", "[1, 2]", '{"type": "launch"}', '{"type": "hello", "encoding": "gif"}',
           '{"type": "hello", "quality": 1000}', '{"type": "clock", "t_page_ms": "soon"}', "x" * 5000,
           b"\x00\x01binary"]
    before = studio.status()["frames"]
    with connect(ws_url(studio), open_timeout=5, max_size=2**24) as ws:
        assert frames_and_errors(ws, 3, 0)[0] >= 3
        for message in bad:
            ws.send(message)
        frames, errors = frames_and_errors(ws, 5, len(bad))
        assert len(errors) == len(bad) and frames >= 5
        assert "not JSON" in errors[0] and "unknown message type" in errors[2] and "gif" in errors[3]
        ws.send(json.dumps({"type": "clock", "t_page_ms": 1.5}))
        answer = None
        while answer is None:
            message = ws.recv(timeout=5)
            if isinstance(message, str) and json.loads(message)["type"] == "clock":
                answer = json.loads(message)
            elif isinstance(message, bytes) or json.loads(message)["type"] == "status":
                ws.send(json.dumps({"type": "ack"}))
        assert answer["t_page_ms"] == 1.5 and abs(answer["t_server_ms"] - time.time() * 1000) < 5000
        described = [c for c in studio.status()["clients"] if c["rejected_messages"]]
        assert described and described[0]["rejected_messages"] == len(bad)
    assert studio.status()["frames"] > before and studio.status()["errors"] == {}


def test_api_errors_say_what_to_send(studio):
    code, body = studio.api("api/source", data=b"spec=demo", content_type="application/x-www-form-urlencoded")
    assert code == 415 and "application/json" in body["error"]
    code, body = studio.api("api/source", data=b"{not json", content_type="application/json")
    assert code == 400 and "not JSON" in body["error"]
    code, body = studio.api("api/renderer", {"name": "raytracer"})
    assert code == 400 and "portrait" in body["error"] and "testpattern" in body["error"]
    code, body = studio.api("api/source", {"spec": "telepathy:1"})
    assert code == 400 and "unknown source" in body["error"] and "keeps running" in body["error"]
    code, body = studio.api("api/calibrate", {"step": "neutral", "seconds": 1, "profile": "../../x"})
    assert code == 400 and "profile name" in body["error"]
    code, body = studio.api("api/stream", {"running": "yes"})
    assert code == 400
    assert studio.status()["running"] and studio.status()["source"] == "demo"


def test_stop_and_start(studio):
    code, _ = studio.api("api/stream", {"running": False})
    assert code == 200 and not studio.status()["running"]
    time.sleep(0.3)
    frames = studio.status()["frames"]
    time.sleep(0.5)
    assert studio.status()["frames"] == frames
    code, _ = studio.api("api/stream", {"running": True})
    assert code == 200 and studio.status()["running"]
    assert wait_until(lambda: studio.status()["frames"] > frames + 5, 5)


def test_remote_mode_needs_the_token_for_every_request():
    """--allow-remote (here on the loopback address, so that nothing leaves this machine): the token printed at
    start is required by every page, file, API call and WebSocket; in Chromium, the page without it is refused
    and the page opened with the printed URL streams."""
    with studio_process("--allow-remote", "--host", "127.0.0.1", "--renderer", "testpattern", "--size", "96x96",
                        "--fps", "30") as remote:
        token = remote.token
        assert token and any(f"access token:       {token}" in line for line in remote.lines)
        for path in ("/", "/view", "/static/studio.js", "/api/state"):
            assert raw_get(remote, path)[0] == 403, path
            assert raw_get(remote, path + ("&" if "?" in path else "?") + "token=wrong")[0] == 403, path
            assert raw_get(remote, f"{path}?token={token}")[0] == 200, path
        assert raw_get(remote, "/api/state", {"Authorization": f"Bearer {token}"})[0] == 200
        with pytest.raises(InvalidStatus) as info:
            connect(ws_url(remote), open_timeout=5)
        assert info.value.response.status_code == 403
        with connect(ws_url(remote, f"?token={token}"), open_timeout=5) as ws:
            assert frames_and_errors(ws, 2, 0)[0] >= 2
        with browser() as chromium:
            page = chromium.new_page()
            refused = page.goto(remote.url())
            assert refused.status == 403 and "access token" in page.inner_text("body")
            page.goto(remote.url(f"?token={token}"))
            assert wait_until(lambda: page.evaluate("window.facecast ? window.facecast.frames : 0") > 5, 20)
            assert page.evaluate("fetch('api/status').then(r => r.status)") == 200  # the cookie the URL set


def test_a_page_can_ask_for_fewer_frames(studio):
    """``max_fps`` in the hello: a page that asks for 5 frames a second gets about that many (the newest each
    time), while the engine runs at its own rate."""
    with connect(ws_url(studio), open_timeout=5) as ws:
        ws.send(json.dumps({"type": "hello", "max_fps": 5, "status": False}))
        frames_and_errors(ws, 1, 0)
        t0, before = time.monotonic(), studio.status()["frames"]
        got, _ = frames_and_errors(ws, 10**6, 0, timeout_s=3.0)
        elapsed = time.monotonic() - t0
        engine = (studio.status()["frames"] - before) / elapsed
    assert engine > 20 and 0.5 * 5 * elapsed <= got <= 5 * elapsed + 2, (got, elapsed, engine)


def test_pages_that_ask_for_a_frame_rate_share_it_and_the_view_gets_every_frame(studio):
    """Two control pages asking for 10 frames a second get about 5 each (more control pages must not take more of
    the CPU the engine needs); a page that asks for every frame (the OBS view) still gets every frame."""
    import threading
    from contextlib import ExitStack
    asks = (10, 10, None)
    got = [0] * len(asks)
    with ExitStack() as stack:
        sockets = [stack.enter_context(connect(ws_url(studio), open_timeout=5)) for _ in asks]
        for ws, max_fps in zip(sockets, asks):
            ws.send(json.dumps({"type": "hello", "max_fps": max_fps, "status": False}))
            frames_and_errors(ws, 1, 0)

        def read(i: int) -> None:
            got[i] = frames_and_errors(sockets[i], 10**6, 0, timeout_s=3.0)[0]
        t0, before = time.monotonic(), studio.status()["frames"]
        threads = [threading.Thread(target=read, args=(i,)) for i in range(len(asks))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        elapsed = time.monotonic() - t0
        engine = (studio.status()["frames"] - before) / elapsed
    for shared in got[:2]:
        assert 0.5 * 5 * elapsed <= shared <= 5 * elapsed + 2, (got, elapsed, engine)
    assert got[2] >= 0.6 * engine * elapsed, (got, elapsed, engine)


def test_the_studio_ends_with_its_duration_and_prints_the_report():
    """--duration ends the engine, the web server with it, and the report is printed (exit 0)."""
    with studio_process("--renderer", "testpattern", "--size", "96x96", "--duration", "3") as s:
        assert wait_until(lambda: s.proc.poll() is not None, 30)
    assert any(" frames in " in line for line in s.lines)


def test_the_zeromq_stream_keeps_going_beside_the_studio(studio):
    """Unity and Unreal clients still receive: the endpoint the studio printed serves bridge protocol frames."""
    from facecast.bridge.protocol import TOPIC_FRAME
    from facecast.bridge.receiver import Receiver
    endpoint = next(line.rsplit(" -> ", 1)[1] for line in studio.lines if line.startswith("facecast studio:"))
    with Receiver(endpoint, topics=(TOPIC_FRAME,)) as rx:
        got = [rx.recv(5.0) for _ in range(3)]
    assert all(m is not None and m.pixels.shape == (128, 128, 4) and m.source == "demo" for m in got)


def _decode_message(message: bytes) -> tuple[dict, list[bytes]]:
    import struct
    (length,) = struct.unpack(">I", message[:4])
    header = json.loads(message[4:4 + length])
    parts, offset = [], 4 + length
    for _mime, size in header["parts"]:
        parts.append(message[offset:offset + size])
        offset += size
    assert offset == len(message)
    return header, parts


@pytest.mark.parametrize("pixel_format", ["rgb8", "rgba8", "bgra8"])
def test_frame_encodings_keep_channel_order_and_alpha(pixel_format):
    """Each encoding of a frame in each pixel format decodes to the frame's RGB (PNG exactly, JPEG within its
    loss) and its alpha (exactly, for jpeg+alpha and PNG): a swapped channel or a lost alpha fails."""
    import zlib

    from facecast.engine.studio.frames import encode_frame
    from facecast.engine.types import NUM_ARKIT, FaceSample, Frame, PixelFormat

    rng = np.random.default_rng(3)
    h, w = 48, 64
    rgb = np.zeros((h, w, 3), np.uint8)  # smooth colour blocks (JPEG keeps them within a few levels)
    rgb[:, :20] = (200, 40, 10)
    rgb[:, 20:40] = (10, 180, 60)
    rgb[:, 40:] = (30, 60, 220)
    alpha = rng.integers(0, 256, (h, w), dtype=np.uint8)
    fmt = PixelFormat(pixel_format)
    if fmt is PixelFormat.RGB8:
        pixels = rgb
    elif fmt is PixelFormat.RGBA8:
        pixels = np.dstack([rgb, alpha])
    else:
        pixels = np.dstack([rgb[..., ::-1], alpha])
    frame = Frame(sample=FaceSample(capture_wall_ns=5_000_000, weights=np.zeros(NUM_ARKIT, np.float32)), pixels=np.ascontiguousarray(pixels), pixel_format=fmt)
    for encoding in ("jpeg", "jpeg+alpha", "webp", "png"):
        header, parts = _decode_message(encode_frame(frame, seq=7, encoding=encoding))
        assert (header["seq"], header["width"], header["height"]) == (7, w, h)
        decoded = np.asarray(Image.open(io.BytesIO(parts[0])))
        has_alpha = fmt is not PixelFormat.RGB8
        if encoding == "png":
            assert np.array_equal(decoded[..., :3], rgb)
            if has_alpha:
                assert np.array_equal(decoded[..., 3], alpha)
        else:
            assert np.abs(decoded[..., :3].astype(int) - rgb).mean() < 6, encoding
        if encoding == "jpeg+alpha" and has_alpha:
            assert header["alpha"] and len(parts) == 2
            assert np.array_equal(np.frombuffer(zlib.decompress(parts[1]), np.uint8).reshape(h, w), alpha)
        elif encoding in ("jpeg", "jpeg+alpha"):
            assert len(parts) == 1
