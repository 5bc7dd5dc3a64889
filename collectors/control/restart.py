"""Restarting and resuming a run the way HARL does it.

HARL's semantics (PKU-MARL/HARL, read for this module):

* ``examples/train.py``: ``--load_config PATH`` takes ``main_args`` (algo, env, exp_name),
  ``algo_args`` and ``env_args`` from a saved ``config.json``; the remaining ``--key value`` pairs
  go through ``eval()`` and ``harl/utils/configs_tools.py: update_args``, which sets only keys the
  loaded config already has (an unknown key is silently ignored). ``--exp_name`` is passed as
  well: the upstream ``train.py`` takes it from the file, forks that do not still get it right.
* ``harl/runners/on_policy_base_runner.py``: ``__init__`` calls ``init_dir`` (a new
  ``seed-<N>-<timestamp>`` directory), ``save_config`` (the new ``config.json`` records
  ``algo_args.train.model_dir``), and ``restore()`` when ``model_dir`` is set, which loads the
  actors, the critic and the value normaliser: weights only, no optimiser state and no step
  counter. ``run()`` loops ``episode`` from 1 to ``num_env_steps // episode_length //
  n_rollout_threads``: the resumed run logs from step 0 again and trains a full
  ``num_env_steps`` more.

So a **restart** is ``<entry point> --load_config <run>/config.json --exp_name <exp>``, run in
the original working directory (``logger.log_dir`` is relative to it) with the original
environment; it is never a replay of a wrapper (``bash train.sh`` re-reads today's script and
YAML). A **resume** adds ``--model_dir <checkpoint> --num_env_steps <planned total - checkpoint
step>``, so that the chain ends where the original would have.

The entry point (interpreter and ``train.py``, or ``python -m module``) comes from happo-top's
launch record, the process's own or its parent's command line, a trusted ``command.txt``, else
the config file's ``harl_train``. Every file that would be executed (``config.json``, whose values
HARL ``eval()``s, the script, ``command.txt``) must belong to the user running happo-top
(:func:`collectors.sources.processes.untrusted`).

:func:`plan_restart` builds a :class:`RestartPlan` (everything checked, nothing done);
:func:`execute_restart` executes exactly that plan: nothing is read again from disk between the
confirmation and the launch."""

from __future__ import annotations

import math
import os
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import psutil

from collectors.control.errors import ActionError, ProcessGone
from collectors.control.launch import LaunchResult, LaunchSpec, spec_from_preset
from collectors.control.registry import Registry, process_create_time
from collectors.control.signals import (
    INT_GRACE,
    TERM_GRACE,
    SignalResult,
    Target,
    check_target,
    stop,
)
from collectors.control.slurm import JobResult, slurm_spec, start, stop_job
from collectors.model.job import JobInfo
from collectors.model.process import ProcessInfo
from collectors.model.run import Checkpoint, RunSnapshot
from collectors.sources.processes import is_wrapper, read_command_txt, untrusted

# HARL config keys a resume sets; update_args ignores a key the loaded config lacks
MODEL_DIR_KEY = "algo_args.train.model_dir"
NUM_ENV_STEPS_KEY = "algo_args.train.num_env_steps"
_SIM_MODULE = "collectors.simulator"


def latest_complete_checkpoint(run: RunSnapshot) -> str | None:
    done = [c for c in run.checkpoints if c.complete]
    return max(done, key=lambda c: c.step).path if done else None


def choose_checkpoint(run: RunSnapshot, step: int | None = None) -> Checkpoint:
    """The checkpoint to resume from: the one at ``step`` (on the run's chain axis, as shown),
    else the latest complete one."""
    done = [c for c in run.checkpoints if c.complete]
    if step is not None:
        for c in run.checkpoints:
            if c.step == step:
                if not c.complete:
                    raise ActionError(f"the checkpoint at step {step} is not complete")
                return c
        have = ", ".join(str(c.step) for c in done) or "none"
        raise ActionError(f"the run has no checkpoint at step {step} (complete ones: {have})")
    if not done:
        raise ActionError("--resume: the run has no complete checkpoint")
    return max(done, key=lambda c: c.step)


def with_model_dir(argv: Sequence[str], model_dir: str, shell: bool = False) -> tuple[str, ...]:
    """HARL's ``--model_dir``: replaced where given, appended otherwise."""
    return with_args(argv, {"model_dir": model_dir}, shell)


def with_args(
    argv: Sequence[str], values: Mapping[str, str], shell: bool = False
) -> tuple[str, ...]:
    """``--key value`` pairs (HARL's override syntax): replaced where given, appended otherwise."""
    if shell:
        extra = " ".join(f"--{k} {shlex.quote(v)}" for k, v in values.items())
        return (f"{argv[0]} {extra}",)
    out = list(argv)
    for key, value in values.items():
        flag = f"--{key}"
        for i, a in enumerate(out):
            if a == flag and i + 1 < len(out):
                out[i + 1] = value
                break
            if a.startswith(flag + "="):
                out[i] = f"{flag}={value}"
                break
        else:
            out += [flag, value]
    return tuple(out)


def _environ(pid: int | None) -> dict[str, str] | None:
    if pid is None:
        return None
    try:
        return dict(psutil.Process(pid).environ())
    except (psutil.Error, OSError):
        return None


def _cwd(pid: int | None) -> str | None:
    if pid is None:
        return None
    try:
        return psutil.Process(pid).cwd() or None
    except (psutil.Error, OSError):
        return None


def _cwd_from_run(run: RunSnapshot | None) -> str | None:
    """``<cwd>/<log_dir>/<env>/<task>/<algo>/<exp>/seed-*`` with a relative ``log_dir``
    (``harl/utils/configs_tools.py: init_dir`` joins them so)."""
    if run is None:
        return None
    log_dir = run.config.get("algo_args.logger.log_dir") or "./results"
    if not isinstance(log_dir, str):
        return None
    if os.path.isabs(log_dir):
        return None
    base = run.path
    for _ in range(5):
        base = os.path.dirname(base)
    parts = [p for p in os.path.normpath(log_dir).split(os.sep) if p not in ("", ".")]
    if ".." in parts:
        return None
    for part in reversed(parts):
        if os.path.basename(base) != part:
            return None
        base = os.path.dirname(base)
    return base


def entry_point(argv: Sequence[str]) -> tuple[str, ...] | None:
    """The part of a command line that names the program: up to ``train.py`` (or ``-m module``,
    or ``happo-top simulate``), without the training arguments. None for a command that starts
    the trainer through a script of its own (``bash train.sh False``: it reads only its own
    arguments, so ``--load_config`` could not reach the trainer)."""
    for i, a in enumerate(argv):
        base = os.path.basename(a)
        if a.endswith(".py"):
            return tuple(argv[: i + 1])
        if a == "-m" and i + 1 < len(argv):
            return tuple(argv[: i + 2])
        if base == "happo-top" and i + 1 < len(argv) and argv[i + 1] == "simulate":
            return tuple(argv[: i + 2])
        if a.endswith(".sh") or (i > 0 and is_wrapper(argv[:1]) and a in ("-c",)):
            return None
    return None


def _script_of(entry: Sequence[str], cwd: str) -> str | None:
    for a in entry:
        if a.endswith((".py", ".sh")):
            return os.path.join(cwd, os.path.expanduser(a))
    return None


@dataclass(frozen=True, slots=True)
class ResumePoint:
    path: str  # the checkpoint directory (HARL's --model_dir)
    step: int  # its step on the run's chain axis
    num_env_steps: int  # what the new segment trains: planned total - step


@dataclass(frozen=True, slots=True)
class RestartPlan:
    """Everything a restart will do, checked and fixed: shown to the user, then executed as is."""

    run_path: str | None
    run_name: str
    spec: LaunchSpec  # the exact argv, cwd and environment that will be launched
    target: Target | None  # the live process to stop first, or None
    entry: tuple[str, ...]  # the HARL entry point in spec.argv
    entry_source: str  # registry | self | parent | command.txt | harl_train | preset NAME
    resume: ResumePoint | None = None
    env_changes: Mapping[str, str | None] = field(default_factory=dict)  # vs our environment
    notes: tuple[str, ...] = ()
    job_id: str | None = None  # a Slurm job to stop first (scancel), instead of ``target``

    def lines(self) -> list[str]:
        """The plan as text: what will be stopped, the argv, the cwd, the environment changes."""
        out = []
        if self.target is not None:
            out.append(f"stop:    {self.target.describe()} (SIGINT, SIGTERM, SIGKILL)")
        if self.job_id is not None:
            out.append(
                f"stop:    Slurm job {self.job_id} (scancel --signal=INT --full, then scancel)"
            )
        out.append(f"run:     {self.spec.display()}")
        if self.spec.backend == "slurm":
            out.append(f"submit:  sbatch {shlex.join(self.spec.sbatch)} (a new Slurm job)")
        out.append(f"cwd:     {self.spec.cwd}")
        if self.env_changes:
            shown = " ".join(
                f"-{k}" if v is None else f"{k}={shlex.quote(v)}"
                for k, v in sorted(self.env_changes.items())
            )
            out.append(f"env:     {shown}")
        else:
            out.append("env:     (as happo-top's own)")
        if self.resume is not None:
            out.append(
                f"resume:  from step {self.resume.step:,} ({self.resume.path}), "
                f"{self.resume.num_env_steps:,} steps more"
            )
        out.append(f"entry:   {shlex.join(self.entry)} (from {self.entry_source})")
        out += [f"note:    {n}" for n in self.notes]
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "run_path": self.run_path,
            "argv": list(self.spec.argv),
            "cwd": self.spec.cwd,
            "env_changes": dict(self.env_changes),
            "stop_pid": None if self.target is None else self.target.pid,
            "stop_job": self.job_id,
            "backend": self.spec.backend,
            "sbatch": list(self.spec.sbatch),
            "entry": list(self.entry),
            "entry_source": self.entry_source,
            "resume": None
            if self.resume is None
            else {
                "model_dir": self.resume.path,
                "step": self.resume.step,
                "num_env_steps": self.resume.num_env_steps,
            },
            "notes": list(self.notes),
        }


def _env_changes(env: Mapping[str, str] | None) -> dict[str, str | None]:
    if env is None:
        return {}
    base = os.environ
    out: dict[str, str | None] = {k: v for k, v in env.items() if base.get(k) != v}
    out.update({k: None for k in base if k not in env})
    return out


def _entry_candidates(
    run: RunSnapshot | None,
    info: ProcessInfo | None,
    registry: Registry,
    harl_train: Sequence[str],
    presets: Mapping[str, Mapping[str, Any]],
) -> tuple[list[tuple[str, tuple[str, ...], str | None, dict[str, str] | None]], list[str]]:
    """(source, argv, cwd, environment) for each place the command may come from, and why
    others were passed over. ``harl_train`` names the entry point (a path to train.py, an argv)
    or a launch preset of the config file, whose argv, cwd and environment are used."""
    found: list[tuple[str, tuple[str, ...], str | None, dict[str, str] | None]] = []
    why: list[str] = []
    rec = None
    if info is not None and info.launch_id:
        rec = registry.get(info.launch_id)
    if rec is None and run is not None:
        rec = registry.for_run(run.path)
    if rec is not None:
        live = registry.find(rec.pid, process_create_time(rec.pid))
        env = _environ(rec.pid) if live else None
        argv = tuple(shlex.split(rec.argv[0])) if rec.shell else rec.argv
        found.append(("registry", argv, rec.cwd, env if env is not None else rec.environment()))
    if info is not None and info.cmdline_source in ("self", "parent") and info.cmdline:
        pid = info.pid if info.cmdline_source == "self" else info.launcher
        cwd = _cwd(pid) or (info.cwd if info.cmdline_source == "self" else None)
        found.append((info.cmdline_source, tuple(info.cmdline), cwd, _environ(pid)))
    if run is not None:
        ct_path = os.path.join(run.path, "command.txt")
        if os.path.exists(ct_path):
            bad = untrusted(ct_path)
            if bad is not None:
                why.append(f"command.txt not used: {bad}")
            else:
                ct = read_command_txt(run.path)
                if ct is not None:
                    found.append(("command.txt", ct[0], ct[1], None))
    if len(harl_train) == 1 and harl_train[0] in presets:
        spec = spec_from_preset(presets, harl_train[0])
        if spec.shell:
            why.append(f"preset {harl_train[0]!r} runs through /bin/sh: not an entry point")
        else:
            found.append((f"preset {harl_train[0]}", spec.argv, spec.cwd, spec.environment()))
    elif harl_train:
        argv = tuple(os.path.expanduser(a) for a in harl_train)
        if len(argv) == 1 and argv[0].endswith(".py"):
            argv = ("python", *argv)
        found.append(("harl_train", argv, None, None))
    return found, why


def plan_restart(
    run: RunSnapshot,
    info: ProcessInfo | None = None,
    *,
    resume: bool = False,
    checkpoint: int | None = None,
    registry: Registry,
    harl_train: Sequence[str] = (),
    presets: Mapping[str, Mapping[str, Any]] | None = None,
) -> RestartPlan:
    """Check everything and fix what a restart (or resume) of ``run`` will launch."""
    target = Target.from_process(info, run) if info is not None else None
    if target is not None:
        try:
            check_target(target)  # refuse early (other user, pid reused), before reading anything
        except ProcessGone:
            target = None
    config = os.path.join(run.path, "config.json")
    if not os.path.isfile(config):
        raise ActionError(
            f"{run.path} has no config.json: HARL's --load_config needs it, cannot restart"
        )
    bad = untrusted(config)
    if bad is not None:  # HARL eval()s its values: another user's file would run as us
        raise ActionError(f"refusing to restart from {config}: {bad}")
    exp = run.exp_name or str(run.config.get("main_args.exp_name") or "")
    if not exp:
        raise ActionError(f"{config} names no main_args.exp_name: cannot restart")
    candidates, why = _entry_candidates(run, info, registry, harl_train, presets or {})
    chosen = None
    for source, argv, cwd, env in candidates:
        entry = entry_point(argv)
        if entry is None:
            why.append(
                f"{source} command {shlex.join(argv)!r} starts the trainer through a "
                "script that takes only its own arguments"
            )
            continue
        chosen = (source, entry, cwd, env)
        break
    if chosen is None:
        reasons = "; ".join(why) or "the process is gone or setproctitle wiped its arguments"
        raise ActionError(
            f"the HARL entry point of run {run.name} is unknown ({reasons}): name it in the "
            "config file, e.g. `harl_train: ~/MAPush/HARL/examples/train.py` (or "
            "`[~/envs/mapush/bin/python, ~/MAPush/HARL/examples/train.py]`, or the name of a "
            "launch preset)"
        )
    source, entry, cwd, env = chosen
    cwd = cwd or (info.cwd if info is not None else None) or _cwd_from_run(run)
    if cwd is None:
        raise ActionError(
            f"the working directory of run {run.name} is unknown (its logger.log_dir is "
            "absolute or its process is gone): cannot restart"
        )
    if not os.path.isdir(cwd):
        raise ActionError(f"working directory {cwd} does not exist any more")
    script = _script_of(entry, cwd)
    if script is not None:
        if not os.path.isfile(script):
            raise ActionError(f"the entry point {script} does not exist")
        bad = untrusted(script)
        if bad is not None:
            raise ActionError(f"refusing to run {script}: {bad}")
    values = {"load_config": config, "exp_name": exp}
    point = None
    notes = [f"entry point from {source}"]
    if resume or checkpoint is not None:
        for key in (MODEL_DIR_KEY, NUM_ENV_STEPS_KEY):
            if key not in run.config:  # update_args would drop it without a word
                raise ActionError(
                    f"{config} has no {key}: HARL would silently ignore --"
                    f"{key.rsplit('.', 1)[1]}, refusing to resume"
                )
        ckpt = choose_checkpoint(run, checkpoint)
        total = run.total_steps
        if total is None or not math.isfinite(total):
            raise ActionError("the run's planned total (num_env_steps) is unknown: cannot resume")
        left = int(total) - int(ckpt.step)
        if left <= 0:
            raise ActionError(
                f"the checkpoint at step {ckpt.step:,} is at the end of the planned "
                f"{int(total):,} steps: nothing left to train"
            )
        point = ResumePoint(ckpt.path, ckpt.step, left)
        values.update(model_dir=ckpt.path, num_env_steps=str(left))
    argv = with_args(entry, values)
    spec = LaunchSpec(
        argv=argv,
        cwd=cwd,
        env=env,
        name=run.name,
        source=source,
        restart_of=run.path,
    )
    return RestartPlan(
        run.path,
        run.name,
        spec,
        target,
        entry,
        source,
        point,
        _env_changes(env),
        tuple(notes),
    )


def plan_record_restart(target: Target, registry: Registry) -> RestartPlan:
    """A launched process not yet tied to a run directory: its recorded command, as it was
    (happo-top's own record, in its 0700 state directory)."""
    rec = registry.get(target.launch_id or "")
    if rec is None:
        raise ActionError(f"launch record {target.launch_id} is gone")
    live = _environ(rec.pid) if registry.find(rec.pid, process_create_time(rec.pid)) else None
    env = live if live is not None else rec.environment()
    spec = LaunchSpec(
        argv=rec.argv,
        cwd=rec.cwd,
        env=env,
        shell=rec.shell,
        name=rec.name,
        log=rec.log_requested,
        preset=rec.preset,
        source="registry",
        restart_of=rec.id,
    )
    return RestartPlan(
        None,
        rec.name or target.describe(),
        spec,
        target,
        rec.argv,
        "record",
        None,
        _env_changes(env),
        ("no run directory yet: the recorded command as it was",),
    )


def plan_job_restart(
    run: RunSnapshot,
    job: JobInfo,
    *,
    resume: bool = False,
    checkpoint: int | None = None,
    registry: Registry,
    harl_train: Sequence[str] = (),
    presets: Mapping[str, Mapping[str, Any]] | None = None,
) -> RestartPlan:
    """A run that is a Slurm job restarts (or resumes) as a new job: the same entry point,
    working directory and environment as :func:`plan_restart` finds them, submitted with the
    sbatch options of the job's launch record; a job still active is cancelled first."""
    plan = plan_restart(
        run,
        None,
        resume=resume,
        checkpoint=checkpoint,
        registry=registry,
        harl_train=harl_train,
        presets=presets,
    )
    rec = registry.for_job(job.id)
    spec = slurm_spec(plan.spec, rec)
    notes = plan.notes
    if rec is None:
        notes += (f"job {job.id} was not submitted by happo-top: no sbatch options on record",)
    return replace(
        plan,
        spec=spec,
        job_id=job.id if job.active else None,
        notes=notes,
    )


@dataclass(frozen=True, slots=True)
class RestartResult:
    stop: SignalResult | JobResult | None  # None when the run had no live process
    launch: LaunchResult
    notes: tuple[str, ...] = ()
    plan: RestartPlan | None = None


def execute_restart(
    plan: RestartPlan,
    *,
    registry: Registry,
    int_grace: float = INT_GRACE,
    term_grace: float = TERM_GRACE,
    before_launch: Callable[[SignalResult | JobResult | None], None] | None = None,
    before_stop: Callable[[Target], None] | None = None,
) -> RestartResult:
    """Execute ``plan`` as it is: stop its target (re-checked before every signal) or its
    Slurm job, then launch (or submit) its spec. Nothing is read from disk again."""
    if not os.path.isdir(plan.spec.cwd):
        raise ActionError(f"working directory {plan.spec.cwd} does not exist any more")
    result: SignalResult | JobResult | None = None
    if plan.job_id is not None:
        result = stop_job(plan.job_id, grace=int_grace, run_path=plan.run_path, registry=registry)
        if result.alive:
            raise ActionError(f"{result.message}: not relaunched")
    target = plan.target
    if target is not None:
        try:
            check_target(target)
        except ProcessGone:
            target = None
    if target is not None:
        if before_stop is not None:  # checked: now it will be stopped
            before_stop(target)
        result = stop(target, int_grace=int_grace, term_grace=term_grace, registry=registry)
        if result.alive:
            raise ActionError(f"{target.describe()} did not end ({result.message}): not relaunched")
    if before_launch is not None:
        before_launch(result)
    launched = start(plan.spec, registry)
    notes = list(plan.notes)
    if plan.resume is not None:
        notes.append(f"resuming from {plan.resume.path}")
    return RestartResult(result, launched, tuple(notes), plan)


def restart(
    run: RunSnapshot,
    info: ProcessInfo | None,
    *,
    resume: bool = False,
    checkpoint: int | None = None,
    registry: Registry,
    harl_train: Sequence[str] = (),
    presets: Mapping[str, Mapping[str, Any]] | None = None,
    int_grace: float = INT_GRACE,
    term_grace: float = TERM_GRACE,
    before_launch: Callable[[SignalResult | JobResult | None], None] | None = None,
    before_stop: Callable[[Target], None] | None = None,
) -> RestartResult:
    """:func:`plan_restart`, then :func:`execute_restart` of that plan."""
    plan = plan_restart(
        run,
        info,
        resume=resume,
        checkpoint=checkpoint,
        registry=registry,
        harl_train=harl_train,
        presets=presets,
    )
    return execute_restart(
        plan,
        registry=registry,
        int_grace=int_grace,
        term_grace=term_grace,
        before_launch=before_launch,
        before_stop=before_stop,
    )
