"""Run control for the TUI: a thin adapter over :mod:`collectors.control`.

The app asks for a :class:`Plan` first (pure: who would be signalled, with which command, for which
run; or why not), shows it in a confirmation, and only then calls :meth:`Actions.execute` from a
worker thread (stopping waits for the process). Every safety rule lives in ``collectors.control``:
only a process the process collector positively identified becomes a target, and its pid, start
time and owner are checked again right before each signal. ``read_only`` refuses everything here
as well, so a command palette entry or a stray key cannot get past it.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from collectors import control
from collectors.control import (
    ActionError,
    LaunchResult,
    LaunchSpec,
    Registry,
    RestartPlan,
    SignalResult,
    Target,
    plan_restart,
    spec_from_preset,
)
from collectors.model.process import ProcessInfo
from collectors.model.run import RunSnapshot
from collectors.model.settings import Settings
from tui.cli.tensorboard import choose_port, launch_spec, logdir_spec, ssh_line, wait_up
from tui.widgets.plan_view import PlanView

STOP = "stop"
KILL = "kill"
RESTART = "restart"
LAUNCH = "launch"
TENSORBOARD = "tensorboard"


class ActionRefused(Exception):
    """Shown to the user as a notification; nothing was done."""


# words that only mean something to a shell: a typed command holding one needs the shell box
SHELL_WORDS = frozenset(("|", "||", "&", "&&", ";", "|&"))


def _shell_word(word: str) -> bool:
    """``word`` (after shlex.split) is shell syntax: an operator, a redirect (``>log``,
    ``2>&1``), a variable or a command substitution."""
    return (
        word in SHELL_WORDS
        or word.startswith(("<", ">", "2>", "&>", "1>"))
        or "$" in word
        or "`" in word
    )


@dataclass(frozen=True, slots=True)
class Plan:
    """One confirmed-to-be action: everything the confirmation names, and what executes it."""

    action: str  # stop | kill | restart | launch
    run_name: str | None
    run_path: str | None
    pid: int | None
    command: str  # the process's command (or what a launch will run)
    detail: str = ""  # signals, working directory, log, ...
    target: Target | None = None  # stop, kill, restart of a live process
    spec: LaunchSpec | None = None  # launch, restart
    run: RunSnapshot | None = field(default=None, compare=False, repr=False)
    info: ProcessInfo | None = field(default=None, compare=False, repr=False)
    resume_from: str | None = None  # restart: what a resume would run (shown, then executed)
    no_resume: str = ""  # restart: why it cannot resume
    # restart: the exact plans the dialog shows; execute() runs one of them as it is
    restart_plan: RestartPlan | None = field(default=None, compare=False, repr=False)
    resume_plan: RestartPlan | None = field(default=None, compare=False, repr=False)

    def view(self) -> PlanView:
        """What the confirmation shows (plain data for the dialogs)."""
        return PlanView(
            self.action,
            self.run_name,
            self.run_path,
            self.pid,
            self.command,
            self.detail,
            self.resume_from,
            self.no_resume,
        )


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    message: str
    still_alive: bool = False  # a stop that did not end the process: offer SIGKILL
    plan: Plan | None = None
    launched_pid: int | None = None


class Actions:
    """Plans and executes launch / stop / kill / restart. One instance per app."""

    def __init__(
        self,
        settings: Settings,
        registry: Registry | None = None,
        int_grace: float | None = None,
        term_grace: float | None = None,
    ) -> None:
        self.settings = settings
        # the launch registry: the monitor's (run_app passes it, or attaches it when None)
        self._registry = registry
        # the stop's grace periods: the config file's (stop_grace, term_grace) unless given
        self.int_grace = int_grace if int_grace is not None else settings.stop_grace
        self.term_grace = term_grace if term_grace is not None else settings.term_grace
        self.launched: list[
            LaunchResult
        ] = []  # LaunchResults of this session (the demo stops them)

    @property
    def read_only(self) -> bool:
        return self.settings.read_only

    @property
    def has_registry(self) -> bool:
        return self._registry is not None

    def attach_registry(self, registry: Registry) -> None:
        """Use ``registry`` (the monitor's) unless one was given when this was built."""
        if self._registry is None:
            self._registry = registry

    @property
    def registry(self) -> Registry:
        if self._registry is None:
            raise ActionRefused("no launch registry: the app was started without one")
        return self._registry

    @property
    def presets(self) -> Mapping[str, Mapping[str, Any]]:
        return self.settings.presets

    def _check_writable(self) -> None:
        if self.read_only:
            raise ActionRefused("read-only mode: actions are disabled")

    # -- what the UI may offer (cheap, no system calls)
    @staticmethod
    def signallable(run: RunSnapshot | None) -> bool:
        """The run has a process that could become a target (positively identified, alive)."""
        info = run.process if run is not None else None
        return info is not None and info.positive and info.alive

    # -- plans (pure: nothing is signalled or started)
    def plan_signal(self, action: str, run: RunSnapshot | None) -> Plan:
        self._check_writable()
        if run is None:
            raise ActionRefused("no run selected")
        info = run.process
        if info is None:
            raise ActionRefused(
                f"run {run.name} has no live process (no process info; state {run.state})"
            )
        try:
            target = Target.from_process(info, run)
        except ActionError as e:
            raise ActionRefused(str(e)) from None
        if action == STOP:
            detail = (
                f"SIGINT now, SIGTERM after {self.int_grace:g} s; SIGKILL is offered if it survives"
            )
        else:
            detail = "SIGKILL at once: the trainer cannot save anything"
        return Plan(
            action,
            run.name,
            run.path,
            target.pid,
            _command(info),
            detail,
            target=target,
            run=run,
            info=info,
        )

    def plan_restart(self, run: RunSnapshot | None) -> Plan:
        self._check_writable()
        if run is None:
            raise ActionRefused("no run selected")
        info = run.process
        target = None
        if info is not None:
            try:
                target = Target.from_process(info, run)
            except ActionError as e:
                raise ActionRefused(str(e)) from None
        try:
            scratch = plan_restart(
                run,
                info,
                registry=self.registry,
                harl_train=self.settings.harl_train,
                presets=self.settings.presets,
            )
        except ActionError as e:
            raise ActionRefused(str(e)) from None
        try:
            resumed: RestartPlan | None = plan_restart(
                run,
                info,
                resume=True,
                registry=self.registry,
                harl_train=self.settings.harl_train,
                presets=self.settings.presets,
            )
        except ActionError as e:
            resumed, no_resume = None, str(e)
        else:
            no_resume = ""
        lines = [ln for ln in scratch.lines() if not ln.startswith("run:")]
        detail = "\n".join(lines)
        resume_text = None
        if resumed is not None and resumed.resume is not None:
            resume_text = (
                f"step {resumed.resume.step:,} ({resumed.resume.path}), "
                f"{resumed.resume.num_env_steps:,} steps more: {resumed.spec.display()}"
            )
        return Plan(
            RESTART,
            run.name,
            run.path,
            target.pid if target is not None else None,
            scratch.spec.display(),
            detail,
            target=target,
            spec=scratch.spec,
            run=run,
            info=info,
            resume_from=resume_text,
            no_resume=no_resume,
            restart_plan=scratch,
            resume_plan=resumed,
        )

    def plan_launch(
        self,
        preset: str | None = None,
        command: str | None = None,
        cwd: str | None = None,
        shell: bool = False,
    ) -> Plan:
        """A preset, or a typed command: split into argv like a shell would, but run without
        one unless ``shell`` (the dialog's checkbox): shell syntax without it is refused."""
        self._check_writable()
        try:
            if preset is not None:
                spec = spec_from_preset(self.presets, preset, self.settings.path)
                if cwd:
                    spec = dataclasses.replace(spec, cwd=cwd)
            else:
                text = (command or "").strip()
                if not text:
                    raise ActionRefused("nothing to launch: type a command")
                if not shell:
                    try:
                        argv = tuple(shlex.split(text))
                    except ValueError as e:
                        raise ActionRefused(f"cannot parse the command: {e}") from None
                    syntax = sorted({w for w in argv if _shell_word(w)})
                    if syntax:
                        raise ActionRefused(
                            f"the command has shell syntax ({' '.join(syntax)}): tick "
                            "'through /bin/sh' to run it in a shell"
                        )
                spec = LaunchSpec(
                    argv=(text,) if shell else argv,
                    cwd=os.path.expanduser(cwd or os.getcwd()),
                    shell=shell,
                    source="command",
                )
        except ActionError as e:
            raise ActionRefused(str(e)) from None
        log = spec.log or "a new file in the happo-top state directory"
        detail = f"in {spec.cwd}, detached (own session), output to {log}"
        if spec.shell:
            detail = "through /bin/sh, " + detail
        if spec.preset:
            detail = f"preset '{spec.preset}', " + detail
        return Plan(LAUNCH, spec.name, None, None, spec.display(), detail, spec=spec)

    # -- execution (blocking: call from a worker thread)
    def execute(self, plan: Plan, *, resume: bool = False, escalate: bool = False) -> Outcome:
        """Run a confirmed plan. ``escalate``: a stop that goes on to SIGKILL by itself."""
        self._check_writable()
        try:
            if plan.action in (STOP, KILL) and plan.target is None:
                return Outcome(False, f"{plan.action}: the plan names no process", plan=plan)
            if plan.action == LAUNCH and plan.spec is None:
                return Outcome(False, "launch: the plan names no command", plan=plan)
            if plan.action == STOP:
                kw = self._graces()
                res = control.stop(plan.target, escalate=escalate, registry=self.registry, **kw)
                return self._signal_outcome(plan, res)
            if plan.action == KILL:
                res = control.kill(plan.target, registry=self.registry)
                return self._signal_outcome(plan, res)
            if plan.action == TENSORBOARD:
                return self._execute_tensorboard(plan)
            if plan.action == RESTART:
                chosen = plan.resume_plan if resume else plan.restart_plan
                if chosen is None:
                    what = "resume" if resume else "restart"
                    return Outcome(False, f"{what}: the plan has nothing to run", plan=plan)
                rr = control.execute_restart(chosen, registry=self.registry, **self._graces())
                self.launched.append(rr.launch)
                code = control.early_exit(rr.launch)
                if code is not None:
                    msg = f"restart of {plan.run_name} failed: "
                    return Outcome(
                        False, msg + control.early_exit_message(rr.launch, code), plan=plan
                    )
                msg = f"restarted {plan.run_name}: pid {rr.launch.pid}, log {rr.launch.log}"
                if rr.stop is not None:
                    msg = f"{rr.stop.message}; " + msg
                if rr.notes:
                    msg += " (" + "; ".join(rr.notes) + ")"
                return Outcome(True, msg, plan=plan, launched_pid=rr.launch.pid)
            if plan.action == LAUNCH:
                lr = control.launch(plan.spec, self.registry)
                self.launched.append(lr)
                code = control.early_exit(lr)
                if code is not None:
                    return Outcome(False, control.early_exit_message(lr, code), plan=plan)
                return Outcome(
                    True,
                    f"launched pid {lr.pid}: {plan.command}\nlog: {lr.log}",
                    plan=plan,
                    launched_pid=lr.pid,
                )
        except control.ActionError as e:
            return Outcome(False, str(e), plan=plan)
        except OSError as e:
            return Outcome(False, f"{plan.action} failed: {e.strerror or e}", plan=plan)
        raise ValueError(f"unknown action {plan.action!r}")

    # -- TensorBoard on runs (issue 15): the same launch as `happo-top tensorboard RUN...`
    def plan_tensorboard(self, runs: Sequence[RunSnapshot], port: int | None = None) -> Plan:
        """TensorBoard on ``runs`` (named as `happo-top tensorboard` names them), on ``port`` or
        the first free one from 6006, listening on localhost; detached and recorded like a
        launch. Runs on another host are refused: their files are not here."""
        self._check_writable()
        if not runs:
            raise ActionRefused("no run selected: mark runs with Space, or select one")
        remote = sorted({r.host for r in runs if r.host})
        if remote:
            raise ActionRefused(
                f"TensorBoard runs on this host: {', '.join(remote)} runs are not here (run "
                "`happo-top tensorboard` there)"
            )
        try:
            port = choose_port(port)
        except ActionError as e:
            raise ActionRefused(str(e)) from None
        spec = launch_spec(logdir_spec(runs, self.settings), port)
        names = ", ".join(r.name for r in runs)
        detail = (
            f"port {port} on localhost, detached (own session), recorded like a launch; "
            f"runs: {logdir_spec(runs, self.settings).replace(',', ', ')}"
        )
        return Plan(TENSORBOARD, names, None, None, spec.display(), detail, spec=spec)

    @staticmethod
    def tensorboard_port(plan: Plan) -> int:
        """The port a TensorBoard plan serves on (from its argv: what is shown is what runs)."""
        argv = plan.spec.argv if plan.spec is not None else ()
        return int(argv[argv.index("--port") + 1])

    def _execute_tensorboard(self, plan: Plan, wait: float = 30.0) -> Outcome:
        if plan.spec is None:
            return Outcome(False, "tensorboard: the plan names no command", plan=plan)
        port = self.tensorboard_port(plan)
        lr = control.launch(plan.spec, self.registry)
        self.launched.append(lr)
        code = wait_up(lr, port, wait)
        if code is not None:
            return Outcome(False, control.early_exit_message(lr, code), plan=plan)
        return Outcome(
            True,
            f"TensorBoard pid {lr.pid} on http://localhost:{port}/ ({plan.run_name})\n"
            f"on your laptop: {ssh_line(port)}",
            plan=plan,
            launched_pid=lr.pid,
        )

    def _graces(self) -> dict[str, float]:
        return {"int_grace": self.int_grace, "term_grace": self.term_grace}

    @staticmethod
    def _signal_outcome(plan: Plan, res: SignalResult) -> Outcome:
        msg = f"{plan.action} {plan.run_name}: {res.message}"
        if res.group is None and res.note:
            msg += f" ({res.note})"
        return Outcome(not res.alive, msg, still_alive=bool(res.alive), plan=plan)


def _command(info: ProcessInfo) -> str:
    cmd = info.cmdline
    text = shlex.join(cmd) if cmd else (info.title or "?")
    source = info.cmdline_source
    if source and source != "self":
        text += f"  [{source}]"
    return text
