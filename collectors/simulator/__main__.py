"""``python -m collectors.simulator``: one simulated HARL trainer (``happo-top simulate``)."""

import sys

from collectors.simulator.trainer import main

sys.exit(main())
