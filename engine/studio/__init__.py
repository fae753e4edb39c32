"""``facecast studio``: the live engine with a web app beside its ZeroMQ stream.

| module | what |
|---|---|
| ``swap.py`` | the source, renderer and retarget stage the engine runs, swappable while it runs |
| ``frames.py`` | the engine's frames for the browsers: a newest-frame tap and its encodings (JPEG, WebP, PNG) |
| ``clients.py`` | one browser connection: credit-based flow control, newest frame wins, the page's messages |
| ``controller.py`` | the controls (source, renderer, portrait, calibration, profile, start/stop) and the status |
| ``portraits.py`` | the portrait photos: uploads checked and stored under names made here |
| ``security.py`` | who may connect: loopback Host, same-origin, the access token with ``--allow-remote`` |
| ``app.py`` | the Starlette app: pages, JSON API, WebSocket |
| ``server.py`` | uvicorn on the main thread, the engine on its own |
| ``static/`` | the pages: plain HTML, CSS and JavaScript, no build step |

Threads: the engine runs on its own thread (and its source on another) exactly as in ``facecast run``; the
web server's event loop runs on the main thread. The only thing the engine's thread does for the browsers
is to keep a reference to each new frame and wake the event loop (:class:`~.frames.FrameTap`).
"""
