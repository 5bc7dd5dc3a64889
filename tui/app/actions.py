"""Run control for the TUI: a thin adapter over :mod:`collectors.control`.

The app asks for a :class:`Plan` first (pure: who would be signalled, with which command, for which
run; or why not), shows it in a confirmation, and only then calls :meth:`Actions.execute` from a
worker thread (stopping waits for the process). Every safety rule lives in ``collectors.control``:
only a process the process collector positively identified becomes a target, and its pid, start
time and owner are checked again right before each signal. ``read_only`` refuses everything here
as well, so a command palette entry or a stray key cannot get past it.

A run on another host (``run.host``) is acted on by the happo-top there:
``ssh HOST happo-top stop RUN --yes`` (:func:`collectors.sources.remote.run_action`), which makes
every safety check itself; the confirmation names the host and the exact command line.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from collectors import control
from collectors.control.errors import ActionError
from collectors.model.process import ProcessInfo
from collectors.model.run import RunSnapshot
from collectors.model.settings import Settings
from tui.widgets.plan_view import PlanView

if TYPE_CHECKING:  # run control is imported on first use: not before the first frame
    from collectors.control import (
        LaunchResult,
        LaunchSpec,
        Registry,
        RestartPlan,
        SignalResult,
        Target,
    )
    from collectors.sources.remote import RemoteSpec

STOP = "stop"
KILL = "kill"
INTERRUPT = "interrupt"  # one SIGINT, nothing after it (nvitop's I)
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
    host: str | None = None  # a run on another host: the happo-top there acts
    remote: RemoteSpec | None = field(default=None, compare=False, repr=False)
    job_id: str | None = None  # stop, kill: a Slurm job (scancel), not a process

    def remote_args(
        self,
        *,
        resume: bool = False,
        escalate: bool = False,
        graces: tuple[float, float] | None = None,
    ) -> list[str]:
        """The happo-top command line there for this plan (``stop RUN --yes ...``), with this
        side's grace periods (``graces``: SIGINT to SIGTERM, SIGTERM to SIGKILL)."""
        if self.action == LAUNCH:
            return self._launch_args()
        args = [self.action, self.run_path or "", "--yes"]
        if self.action in (STOP, RESTART) and graces is not None:
            args += ["--grace", f"{graces[0]:g}", "--term-grace", f"{graces[1]:g}"]
        if self.action == STOP and not escalate:
            args.append("--no-kill")  # SIGKILL is offered here, as for a local run
        if self.action == RESTART and resume:
            args.append("--resume")
        return args

    def _launch_args(self) -> list[str]:
        """``launch`` there with this plan's spec as it is (a preset of this config file runs
        with its argv, cwd and environment on the chosen host)."""
        spec = self.spec
        assert spec is not None
        args = ["launch", "--cwd", spec.cwd]
        if spec.name:
            args += ["--name", spec.name]
        for k, v in sorted(spec.overrides.items()):
            args += ["--env", f"{k}={v}"]
        if spec.shell:
            args.append("--shell")
        if spec.backend == "slurm":  # submitted there with the same sbatch options
            args += ["--slurm", *(f"--sbatch={o}" for o in spec.sbatch)]
        return [*args, "--", *spec.argv]

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
            self.host,
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
        """The run has a process that could become a target (positively identified, alive; on
        another host: alive, as its happo-top saw it, which identifies it again itself)."""
        info = run.process if run is not None else None
        if run is not None and run.job is not None and run.job.active and run.host is None:
            return True  # a Slurm job: scancel
        if info is None or not info.alive:
            return False
        return info.positive or run is not None and run.host is not None

    def remote_spec(self, host: str) -> RemoteSpec:
        from collectors.sources.remote import spec_for

        s = self.settings
        return spec_for(host, s.hosts, remote_command=s.remote_command, ssh_args=s.ssh_args)

    def _plan_remote(self, action: str, run: RunSnapshot) -> Plan:
        """A plan for a run on another host: what the confirmation shows, and the spec that
        reaches it. Nothing of the process is checked here: the happo-top there does it all."""
        assert run.host is not None
        spec = self.remote_spec(run.host)
        info = run.process
        pid = info.pid if info is not None else None
        if action == STOP:
            detail = (
                f"SIGINT now, SIGTERM after {self.int_grace:g} s (by happo-top on {run.host}); "
                "SIGKILL is offered if it survives"
            )
        elif action == KILL:
            detail = "SIGKILL at once: the trainer cannot save anything"
        elif action == INTERRUPT:
            detail = (
                f"one SIGINT (like Ctrl-C, by happo-top on {run.host}) and nothing after it: the "
                "trainer decides whether to exit (T stops it for sure)"
            )
        else:
            detail = (
                f"stop it (if running), then start it again from its config.json, as "
                f"happo-top on {run.host} plans it"
            )
        plan = Plan(
            action,
            run.name,
            run.path,
            pid,  # the host's pid (the confirmation names the host): busy while it acts
            "",
            detail,
            run=run,
            info=info,
            host=run.host,
            remote=spec,
            resume_from=(
                "its latest complete checkpoint there (refused there if it has none)"
                if action == RESTART
                else None
            ),
        )
        line = shlex.join(spec.command(plan.remote_args(graces=self._grace_pair())))
        return dataclasses.replace(plan, command=line)

    def _grace_pair(self) -> tuple[float, float]:
        return self.int_grace, self.term_grace

    # -- plans (pure: nothing is signalled or started)
    def plan_signal(self, action: str, run: RunSnapshot | None) -> Plan:
        self._check_writable()
        if run is None:
            raise ActionRefused("no run selected")
        if run.job is not None and run.host is None:
            return self._plan_job(action, run)
        info = run.process
        if info is None:
            raise ActionRefused(
                f"run {run.name} has no live process (no process info; state {run.state})"
            )
        if run.host is not None:  # the happo-top there acts (`happo-top interrupt` for I)
            return self._plan_remote(action, run)
        try:
            target = control.Target.from_process(info, run)
        except ActionError as e:
            raise ActionRefused(str(e)) from None
        if action == STOP:
            detail = (
                f"SIGINT now, SIGTERM after {self.int_grace:g} s; SIGKILL is offered if it survives"
            )
        elif action == INTERRUPT:
            detail = (
                "one SIGINT (like Ctrl-C) and nothing after it: the trainer decides whether to "
                "exit; no SIGTERM, no SIGKILL (T stops it for sure)"
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

    def _plan_job(self, action: str, run: RunSnapshot) -> Plan:
        """Stop or kill a run's Slurm job (collectors.control.slurm: ours only, checked again
        right before each scancel)."""
        job = run.job
        assert job is not None
        if not job.active:
            raise ActionRefused(f"run {run.name}: job {job.id} has ended ({job.state})")
        if action == STOP:
            detail = (
                f"SIGINT to the job's processes now (scancel --signal=INT --full), scancel "
                f"after {self.int_grace:g} s"
            )
        elif action == INTERRUPT:
            if job.state != "RUNNING":
                raise ActionRefused(
                    f"run {run.name}: job {job.id} is {job.state}, no process to interrupt"
                )
            detail = (
                "one SIGINT to the job's processes (scancel --signal=INT --full) and nothing "
                "after it: no scancel (T stops it for sure)"
            )
        else:
            detail = "scancel at once (Slurm sends SIGTERM, then SIGKILL)"
        what = f"Slurm job {job.id} ({job.state}{' on ' + job.node if job.node else ''})"
        return Plan(action, run.name, run.path, None, what, detail, run=run, job_id=job.id)

    def plan_restart(self, run: RunSnapshot | None) -> Plan:
        self._check_writable()
        if run is None:
            raise ActionRefused("no run selected")
        if run.host is not None:
            return self._plan_remote(RESTART, run)
        info = run.process
        target = None
        if info is not None:
            try:
                target = control.Target.from_process(info, run)
            except ActionError as e:
                raise ActionRefused(str(e)) from None
        job = run.job

        def planned(resume: bool) -> RestartPlan:
            reg, train, presets = self.registry, self.settings.harl_train, self.settings.presets
            if job is not None:  # a Slurm job: a new job with the same sbatch options
                return control.plan_job_restart(
                    run, job, resume=resume, registry=reg, harl_train=train, presets=presets
                )
            return control.plan_restart(
                run, info, resume=resume, registry=reg, harl_train=train, presets=presets
            )

        if job is not None:
            target = None
        try:
            scratch = planned(False)
        except ActionError as e:
            raise ActionRefused(str(e)) from None
        try:
            resumed: RestartPlan | None = planned(True)
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
        host: str | None = None,
    ) -> Plan:
        """A preset, or a typed command: split into argv like a shell would, but run without
        one unless ``shell`` (the dialog's checkbox): shell syntax without it is refused.
        ``host``: launched there, by the happo-top there (``ssh HOST happo-top launch ...``)."""
        self._check_writable()
        try:
            if preset is not None:
                spec = control.spec_from_preset(self.presets, preset, self.settings.path)
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
                spec = control.LaunchSpec(
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
        if spec.backend == "slurm":
            detail = (
                f"submitted to Slurm (sbatch {shlex.join(spec.sbatch)}), in {spec.cwd}, "
                f"output to {log}"
            )
        if spec.preset:
            detail = f"preset '{spec.preset}', " + detail
        if host:
            remote = self.remote_spec(host)
            detail = f"on {host}, by the happo-top there: " + detail.replace(
                "the happo-top state directory", f"its state directory on {host}"
            )
            return Plan(
                LAUNCH, spec.name, None, None, spec.display(), detail, spec=spec, host=host,
                remote=remote,
            )  # fmt: skip
        return Plan(LAUNCH, spec.name, None, None, spec.display(), detail, spec=spec)

    # -- execution (blocking: call from a worker thread)
    def execute(self, plan: Plan, *, resume: bool = False, escalate: bool = False) -> Outcome:
        """Run a confirmed plan. ``escalate``: a stop that goes on to SIGKILL by itself."""
        self._check_writable()
        if plan.remote is not None:
            return self._execute_remote(plan, resume=resume, escalate=escalate)
        try:
            if plan.action in (STOP, KILL, INTERRUPT) and plan.job_id is not None:
                return self._execute_job(plan, escalate)
            if plan.action in (STOP, KILL, INTERRUPT) and plan.target is None:
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
            if plan.action == INTERRUPT:
                res = control.interrupt(plan.target, registry=self.registry)
                return self._interrupt_outcome(plan, res.signals, res.ended_by, res.seconds)
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
                what = (
                    f"Slurm job {rr.launch.job_id}" if rr.launch.job_id else f"pid {rr.launch.pid}"
                )
                msg = f"restarted {plan.run_name}: {what}, log {rr.launch.log}"
                if rr.stop is not None:
                    msg = f"{rr.stop.message}; " + msg
                if rr.notes:
                    msg += " (" + "; ".join(rr.notes) + ")"
                return Outcome(True, msg, plan=plan, launched_pid=rr.launch.pid)
            if plan.action == LAUNCH:
                lr = control.start(plan.spec, self.registry)  # here, or sbatch (backend: slurm)
                self.launched.append(lr)
                code = control.early_exit(lr)
                if code is not None:
                    return Outcome(False, control.early_exit_message(lr, code), plan=plan)
                what = f"submitted Slurm job {lr.job_id}" if lr.job_id else f"launched pid {lr.pid}"
                return Outcome(
                    True,
                    f"{what}: {plan.command}\nlog: {lr.log}",
                    plan=plan,
                    launched_pid=lr.pid,
                )
        except control.ActionError as e:
            return Outcome(False, str(e), plan=plan)
        except OSError as e:
            return Outcome(False, f"{plan.action} failed: {e.strerror or e}", plan=plan)
        raise ValueError(f"unknown action {plan.action!r}")

    def _execute_remote(self, plan: Plan, *, resume: bool, escalate: bool) -> Outcome:
        """``ssh HOST happo-top ACTION RUN --yes``: its exit status and last line are the
        outcome; a stop that left the process alive there (``--no-kill``) offers SIGKILL."""
        assert plan.remote is not None
        args = plan.remote_args(resume=resume, escalate=escalate, graces=self._grace_pair())
        from collectors.sources.remote import run_action

        res = run_action(plan.remote, args)
        alive = plan.action == STOP and res.returncode == 1 and "still running" in res.stdout
        what = "resume" if resume else plan.action
        if plan.action == LAUNCH:  # what was started there, and its log
            lines = [ln for ln in res.stdout.splitlines() if ln.strip()] if res.ok else []
            text = "\n".join(lines) or res.message()
            return Outcome(res.ok, f"launch on {plan.host}: {text}", plan=plan)
        return Outcome(res.ok, f"{what} {plan.run_name}: {res.message()}", alive, plan=plan)

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
            port = control.choose_port(port)
        except ActionError as e:
            raise ActionRefused(str(e)) from None
        spec = control.launch_spec(control.logdir_spec(runs, self.settings), port)
        names = ", ".join(r.name for r in runs)
        detail = (
            f"port {port} on localhost, detached (own session), recorded like a launch; "
            f"runs: {control.logdir_spec(runs, self.settings).replace(',', ', ')}"
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
        code = control.wait_up(lr, port, wait)
        if code is not None:
            return Outcome(False, control.early_exit_message(lr, code), plan=plan)
        return Outcome(
            True,
            f"TensorBoard pid {lr.pid} on http://localhost:{port}/ ({plan.run_name})\n"
            f"on your laptop: {control.ssh_line(port)}",
            plan=plan,
            launched_pid=lr.pid,
        )

    def _execute_job(self, plan: Plan, escalate: bool = True) -> Outcome:
        assert plan.job_id is not None
        if plan.action == STOP:
            res = control.stop_job(
                plan.job_id,
                grace=self.int_grace,
                run_path=plan.run_path,
                registry=self.registry,
                escalate=True,  # scancel after the grace: the job's way to SIGTERM, SIGKILL
            )
        elif plan.action == INTERRUPT:
            res = control.interrupt_job(plan.job_id, run_path=plan.run_path, registry=self.registry)
            return self._interrupt_outcome(plan, res.sent, res.ended_by, res.seconds)
        else:
            res = control.kill_job(plan.job_id, run_path=plan.run_path, registry=self.registry)
        msg = f"{plan.action} {plan.run_name}: {res.message}"
        return Outcome(not res.alive, msg, still_alive=res.alive, plan=plan)

    def _graces(self) -> dict[str, float]:
        return {"int_grace": self.int_grace, "term_grace": self.term_grace}

    @staticmethod
    def _interrupt_outcome(
        plan: Plan, sent: Sequence[str], ended_by: str | None, seconds: float
    ) -> Outcome:
        """An interrupt that was sent is done, whether or not the run ended: nothing follows it
        (no SIGKILL is offered; T stops it)."""
        who = f"Slurm job {plan.job_id}" if plan.job_id else f"pid {plan.pid}"
        if ended_by == "already ended" or ended_by == "already gone":
            return Outcome(False, f"interrupt {plan.run_name}: {who} had already ended", plan=plan)
        if not sent:
            return Outcome(False, f"interrupt {plan.run_name}: nothing was sent", plan=plan)
        if ended_by is None:
            msg = f"{who} is still running {seconds:.1f} s after SIGINT (T stops it)"
        else:
            msg = f"{who} ended {seconds:.1f} s after SIGINT"
        return Outcome(True, f"interrupt {plan.run_name}: SIGINT sent; {msg}", plan=plan)

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
