"""``python -m facecast.engine.cli``: the same as the ``facecast`` script."""

import sys

from facecast.engine.cli.main import main


sys.exit(main())
