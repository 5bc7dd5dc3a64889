"""Acting on runs: the launch registry (``registry``), signals and their plans (``signals``: what
will be signalled and why, after positive identification), launching (``launch``), restarting and
resuming (``restart``), TensorBoard on runs (``tensorboard``), the ``on_event`` command
(``hooks``). Front ends import from this package."""

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
    kill,
    signal_plan,
    stop,
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

__all__ = [
    "HookRunner",
    "LAUNCH_NAME",
    "choose_port",
    "launch_spec",
    "logdir_spec",
    "run_label",
    "ssh_line",
    "wait_up",
    "ActionError",
    "INT_GRACE",
    "KILL_WAIT",
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
    "check_target",
    "default_log_path",
    "early_exit",
    "early_exit_message",
    "kill",
    "latest_complete_checkpoint",
    "launch",
    "restart",
    "choose_checkpoint",
    "entry_point",
    "execute_restart",
    "plan_record_restart",
    "plan_restart",
    "with_args",
    "signal_plan",
    "spec_from_preset",
    "state_dir",
    "stop",
    "with_model_dir",
]
