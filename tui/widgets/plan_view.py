"""What a confirmation names about a planned action (stop, kill, restart, launch): plain data,
no behaviour. The app turns its plan into one (``Plan.view()``), so the dialogs need nothing of
run control."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PlanView:
    action: str  # stop | kill | restart | launch
    run_name: str | None
    run_path: str | None
    pid: int | None
    command: str  # the process's command (or what a launch will run)
    detail: str = ""  # signals, working directory, log, ...
    resume_from: str | None = None  # restart: the checkpoint --model_dir would point at
    no_resume: str = ""  # restart: why it cannot resume (when resume_from is None)
    host: str | None = None  # the ssh host the run is on (None: this one)
