"""Acting on runs: the launch registry (``registry``), signals and their plans (``signals``: what
will be signalled and why, after positive identification), launching (``launch``), restarting and
resuming (``restart``), TensorBoard on runs (``tensorboard``). Front ends import from this
package.

The names are imported on first use (PEP 562): a command that only reads runs (``--once``)
imports the registry, not launching, restarting and TensorBoard."""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collectors.control.errors import (
        ActionError,
        ProcessGone,
    )
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

_WHERE: dict[str, str] = {
    "ActionError": "collectors.control.errors",
    "ProcessGone": "collectors.control.errors",
    "LaunchResult": "collectors.control.launch",
    "LaunchSpec": "collectors.control.launch",
    "default_log_path": "collectors.control.launch",
    "early_exit": "collectors.control.launch",
    "early_exit_message": "collectors.control.launch",
    "launch": "collectors.control.launch",
    "spec_from_preset": "collectors.control.launch",
    "START_TOLERANCE": "collectors.control.registry",
    "LaunchRecord": "collectors.control.registry",
    "Registry": "collectors.control.registry",
    "state_dir": "collectors.control.registry",
    "RestartPlan": "collectors.control.restart",
    "RestartResult": "collectors.control.restart",
    "ResumePoint": "collectors.control.restart",
    "choose_checkpoint": "collectors.control.restart",
    "entry_point": "collectors.control.restart",
    "execute_restart": "collectors.control.restart",
    "latest_complete_checkpoint": "collectors.control.restart",
    "plan_record_restart": "collectors.control.restart",
    "plan_restart": "collectors.control.restart",
    "restart": "collectors.control.restart",
    "with_args": "collectors.control.restart",
    "with_model_dir": "collectors.control.restart",
    "INT_GRACE": "collectors.control.signals",
    "KILL_WAIT": "collectors.control.signals",
    "POLL": "collectors.control.signals",
    "TERM_GRACE": "collectors.control.signals",
    "SignalPlan": "collectors.control.signals",
    "SignalResult": "collectors.control.signals",
    "Target": "collectors.control.signals",
    "check_target": "collectors.control.signals",
    "kill": "collectors.control.signals",
    "signal_plan": "collectors.control.signals",
    "stop": "collectors.control.signals",
    "LAUNCH_NAME": "collectors.control.tensorboard",
    "choose_port": "collectors.control.tensorboard",
    "launch_spec": "collectors.control.tensorboard",
    "logdir_spec": "collectors.control.tensorboard",
    "run_label": "collectors.control.tensorboard",
    "ssh_line": "collectors.control.tensorboard",
    "wait_up": "collectors.control.tensorboard",
}


class _Package(types.ModuleType):
    """This package's module: a name is imported from its submodule on first use, and a
    submodule loaded under a name the package exports (``launch``, ``restart``) leaves the
    exported function there, as the eager ``from ... import`` used to."""

    def __getattr__(self, name: str) -> Any:
        module = _WHERE.get(name)
        if module is None:
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")
        # Deferred for start-up time: a submodule only when one of its names is used.
        value = getattr(importlib.import_module(module), name)
        super().__setattr__(name, value)
        return value

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and _WHERE.get(name) == value.__name__:
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


__all__ = [
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
