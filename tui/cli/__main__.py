"""``python -m tui.cli``: the ``happo-top`` command."""

import sys

from tui.cli.command import main

sys.exit(main())
