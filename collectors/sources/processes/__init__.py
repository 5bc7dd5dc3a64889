"""The training process behind each run: the process table, the ways of matching a process to a
run (open files, title and working directory, the parent's command line, the launch registry),
and the collector that keeps the matches."""

from collectors.sources.processes.collector import ProcessCollector, ProcessInfo, command_txt_log

__all__ = ["ProcessCollector", "ProcessInfo", "command_txt_log"]
