"""Where frames go besides the ZeroMQ publisher (``bridge/``), each behind the loop's ``FramePublisher``
interface (``publish(frame)``, ``close()``):

- :mod:`.fanout`: one publisher that hands every frame to several outputs;
- :mod:`.virtualcam`: a virtual camera (``--virtualcam``: OBS Virtual Camera on Windows and macOS,
  v4l2loopback on Linux) fed from its own thread, newest frame wins.

The studio's browser output lives with the studio (``engine/studio/``).
"""
