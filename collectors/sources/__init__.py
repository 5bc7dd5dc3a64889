"""Sources: read the world (run files, processes, GPUs, disks, the host, other
hosts over ssh) into model values.
Siblings never import each other; the monitor puts them together."""
