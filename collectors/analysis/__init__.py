"""Analysis: pure functions of model values (quarters, metric tags, labels and config
differences, health rules). Nothing here reads a file or a process."""
