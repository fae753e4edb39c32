"""facecast.engine: core types, the live loop, and its stages.

Data flow, one folder per stage::

    sources/  ->  mailbox  ->  retarget/  ->  render/<renderer>/  ->  bridge (publisher)
                                               accel/ (model acceleration for render/)

Core types live in :mod:`facecast.engine.types`; the loop in :mod:`facecast.engine.loop`.
"""

__version__ = "0.1.0"
