"""Acting on runs: the launch registry (``registry``), signals and their plans (``signals``: what
will be signalled and why, after positive identification), launching (``launch``), restarting and
resuming (``restart``), TensorBoard on runs (``tensorboard``), the Slurm backend (``slurm``), the
``on_event`` command (``hooks``). Front ends import from this package.

The names are imported on first use (PEP 562): a command that only reads runs (``--once``)
imports the registry, not launching, restarting and TensorBoard."""

from __future__ import annotations

from typing import TYPE_CHECKING

from collectors.lazy import make_lazy

if TYPE_CHECKING:
    from collectors.control.errors import (
        ActionError,
        ProcessGone,
    )
    from collectors.control.hooks import HookRunner
    from collectors.control.launch import (
        LaunchResult,
        LaunchSpec,
        default_log_path,
        early_exit,
        early_exit_message,
        launch,
        spec_from_preset,
    )
    from collectors.control.registry import (
        START_TOLERANCE,
        LaunchRecord,
        Registry,
        state_dir,
    )
    from collectors.control.restart import (
        RestartPlan,
        RestartResult,
        ResumePoint,
        choose_checkpoint,
        entry_point,
        execute_restart,
        latest_complete_checkpoint,
        plan_job_restart,
        plan_record_restart,
        plan_restart,
        restart,
        with_args,
        with_model_dir,
    )
    from collectors.control.signals import (
        INT_GRACE,
        KILL_WAIT,
        POLL,
        TERM_GRACE,
        SignalPlan,
        SignalResult,
        Target,
        check_target,
        interrupt,
        kill,
        signal_plan,
        stop,
    )
    from collectors.control.slurm import (
        JobResult,
        check_job,
        interrupt_job,
        kill_job,
        start,
        stop_job,
        submit,
    )
    from collectors.control.tensorboard import (
        LAUNCH_NAME,
        choose_port,
        launch_spec,
        logdir_spec,
        run_label,
        ssh_line,
        wait_up,
    )

_MODULES: dict[str, tuple[str, ...]] = {
    "collectors.control.errors": (
        "ActionError",
        "ProcessGone",
    ),
    "collectors.control.hooks": ("HookRunner",),
    "collectors.control.launch": (
        "LaunchResult",
        "LaunchSpec",
        "default_log_path",
        "early_exit",
        "early_exit_message",
        "launch",
        "spec_from_preset",
    ),
    "collectors.control.registry": (
        "START_TOLERANCE",
        "LaunchRecord",
        "Registry",
        "state_dir",
    ),
    "collectors.control.restart": (
        "RestartPlan",
        "RestartResult",
        "ResumePoint",
        "choose_checkpoint",
        "entry_point",
        "execute_restart",
        "latest_complete_checkpoint",
        "plan_job_restart",
        "plan_record_restart",
        "plan_restart",
        "restart",
        "with_args",
        "with_model_dir",
    ),
    "collectors.control.signals": (
        "INT_GRACE",
        "KILL_WAIT",
        "POLL",
        "TERM_GRACE",
        "SignalPlan",
        "SignalResult",
        "Target",
        "check_target",
        "interrupt",
        "kill",
        "signal_plan",
        "stop",
    ),
    "collectors.control.slurm": (
        "JobResult",
        "check_job",
        "interrupt_job",
        "kill_job",
        "start",
        "stop_job",
        "submit",
    ),
    "collectors.control.tensorboard": (
        "LAUNCH_NAME",
        "choose_port",
        "launch_spec",
        "logdir_spec",
        "run_label",
        "ssh_line",
        "wait_up",
    ),
}
make_lazy(__name__, _MODULES)


__all__ = [
    "ActionError",
    "HookRunner",
    "INT_GRACE",
    "JobResult",
    "KILL_WAIT",
    "LAUNCH_NAME",
    "LaunchRecord",
    "LaunchResult",
    "LaunchSpec",
    "POLL",
    "ProcessGone",
    "Registry",
    "RestartPlan",
    "RestartResult",
    "ResumePoint",
    "START_TOLERANCE",
    "SignalPlan",
    "SignalResult",
    "TERM_GRACE",
    "Target",
    "check_job",
    "check_target",
    "choose_checkpoint",
    "choose_port",
    "default_log_path",
    "early_exit",
    "early_exit_message",
    "entry_point",
    "execute_restart",
    "interrupt",
    "interrupt_job",
    "kill",
    "kill_job",
    "latest_complete_checkpoint",
    "launch",
    "launch_spec",
    "logdir_spec",
    "plan_job_restart",
    "plan_record_restart",
    "plan_restart",
    "restart",
    "run_label",
    "signal_plan",
    "spec_from_preset",
    "ssh_line",
    "start",
    "state_dir",
    "stop",
    "stop_job",
    "submit",
    "wait_up",
    "with_args",
    "with_model_dir",
]
