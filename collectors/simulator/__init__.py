"""The simulator: a stand-in for a HARL / MAPush HAPPO trainer, at accelerated speed, writing a
run directory exactly as HARL does (``happo-top simulate``, ``python -m collectors.simulator``).
It imports nothing from the rest of happo-top: it is what the monitor watches, not part of it.

``config`` (what shapes a run, its ``config.json``), ``curves`` (the logged series),
``writer`` (event files written at once with simulated wall times), ``trainer`` (the run
itself, live or instant, and the command line), ``process`` (the simulator as a child process).
"""

from collectors.simulator.config import SimConfig, build_config
from collectors.simulator.process import command, spawn
from collectors.simulator.trainer import main, write_instant_run

__all__ = ["SimConfig", "build_config", "command", "main", "spawn", "write_instant_run"]
