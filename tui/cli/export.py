"""Prometheus, for labs with many machines: ``happo-top export --prometheus [--listen
127.0.0.1:9105]`` serves ``/metrics``, ``happo-top --once --format prometheus`` prints the same
text once (for node_exporter's textfile collector). The format is written by
``prometheus_client``, never by hand.

Per run (labels ``host``, ``run`` = the run id, ``name``, ``exp_name``, ``label``):
``happo_top_run_progress`` (0..1), ``happo_top_run_step``, ``happo_top_run_steps_per_hour``,
``happo_top_run_reward`` (latest), ``happo_top_run_eta_seconds`` (time left),
``happo_top_run_state{state}`` and ``happo_top_run_health{level}`` (1 for the run's state and
its worst health level, 0 for the others). Per GPU and filesystem what the system strip shows.
A figure that is unknown (no ETA for a finished run) is left out, not written as NaN.
"""

from __future__ import annotations

import argparse
import functools
import ipaddress
import math
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator, Sequence

from prometheus_client import CollectorRegistry, generate_latest, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from collectors.analysis.health import LEVELS, worst
from collectors.model import STATES, Settings, Snapshot
from collectors.monitor import Monitor
from tui.cli import common, exit_codes, options, watch

DEFAULT_LISTEN = "127.0.0.1:9105"
# A prometheus_client registry of metric collectors (not the launch registry: common.registry()).
new_metrics = functools.partial(CollectorRegistry, auto_describe=False)
RUN_LABELS = ("host", "run", "name", "exp_name", "label")


def _known(value: float | None) -> bool:
    return value is not None and not (isinstance(value, float) and not math.isfinite(value))


def families(snap: Snapshot) -> Iterator[GaugeMetricFamily]:
    """The metric families of one snapshot."""

    def run_gauge(name: str, doc: str, extra: Sequence[str] = ()) -> GaugeMetricFamily:
        return GaugeMetricFamily(f"happo_top_run_{name}", doc, labels=[*RUN_LABELS, *extra])

    progress = run_gauge("progress", "Latest logged step over num_env_steps (0..1).")
    step = run_gauge("step", "Latest logged environment step.")
    speed = run_gauge("steps_per_hour", "Environment steps per hour (recent data).")
    reward = run_gauge("reward", "Latest episode reward (train_episode_rewards or its stand-in).")
    eta = run_gauge("eta_seconds", "Seconds until the run is expected to reach its last step.")
    state = run_gauge("state", "1 for the run's state, 0 for the others.", ["state"])
    health = run_gauge("health", "1 for the run's worst health level, 0 for the others.", ["level"])
    for r in snap.runs:
        labels = [snap.host, r.id, r.name, r.exp_name or "", r.label or ""]
        if _known(r.progress):
            progress.add_metric(labels, float(r.progress))  # type: ignore[arg-type]
        if r.step is not None:
            step.add_metric(labels, float(r.step))
        if _known(r.steps_per_hour):
            speed.add_metric(labels, float(r.steps_per_hour))  # type: ignore[arg-type]
        if r.reward is not None and _known(r.reward.latest):
            reward.add_metric(labels, float(r.reward.latest))  # type: ignore[arg-type]
        if _known(r.eta):
            eta.add_metric(labels, max(0.0, float(r.eta) - snap.time))  # type: ignore[arg-type]
        for s in STATES:
            state.add_metric([*labels, s], 1.0 if r.state == s else 0.0)
        level = worst(r.health)
        for lv in LEVELS:
            health.add_metric([*labels, lv], 1.0 if level == lv else 0.0)
    yield from (progress, step, speed, reward, eta, state, health)

    gpu_labels = ["host", "gpu", "name"]
    util = GaugeMetricFamily(
        "happo_top_gpu_utilization_percent", "GPU utilisation.", labels=gpu_labels
    )
    mem = GaugeMetricFamily(
        "happo_top_gpu_memory_used_bytes", "GPU memory in use.", labels=gpu_labels
    )
    total = GaugeMetricFamily("happo_top_gpu_memory_total_bytes", "GPU memory.", labels=gpu_labels)
    temp = GaugeMetricFamily(
        "happo_top_gpu_temperature_celsius", "GPU temperature.", labels=gpu_labels
    )
    power = GaugeMetricFamily("happo_top_gpu_power_watts", "GPU power draw.", labels=gpu_labels)
    devices = snap.gpus.devices if snap.gpus is not None and snap.gpus.available else ()
    for d in devices:
        labels = [snap.host, str(d.index), d.name]
        for family, value in (
            (util, d.utilization),
            (mem, d.memory_used),
            (total, d.memory_total),
            (temp, d.temperature),
            (power, d.power),
        ):
            if _known(value):
                family.add_metric(labels, float(value))  # type: ignore[arg-type]
    yield from (util, mem, total, temp, power)

    fs_labels = ["host", "mount"]
    free = GaugeMetricFamily(
        "happo_top_disk_free_bytes", "Free space for this user.", labels=fs_labels
    )
    size = GaugeMetricFamily("happo_top_disk_total_bytes", "Filesystem size.", labels=fs_labels)
    proj = GaugeMetricFamily(
        "happo_top_disk_projected_bytes",
        "What the running runs will still write here (estimate).",
        labels=fs_labels,
    )
    for fs in snap.disks.filesystems if snap.disks is not None else ():
        labels = [snap.host, fs.mount]
        free.add_metric(labels, float(fs.free))
        size.add_metric(labels, float(fs.total))
        proj.add_metric(labels, float(fs.projected))
    yield from (free, size, proj)


class SnapshotCollector(Collector):
    """A prometheus_client collector over a Monitor: one poll per scrape (at most one per
    ``min_interval`` seconds; scrapes are served from threads, the Monitor is polled by one)."""

    def __init__(self, monitor: Monitor, min_interval: float) -> None:
        self.monitor = monitor
        self.min_interval = min_interval
        self._lock = threading.Lock()
        self._snap: Snapshot | None = None
        self._at = 0.0

    def snapshot(self) -> Snapshot:
        with self._lock:
            if self._snap is None or time.monotonic() - self._at >= self.min_interval:
                self._snap = self.monitor.collect()
                self._at = time.monotonic()
            return self._snap

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield from families(self.snapshot())


def text(snap: Snapshot) -> str:
    """The Prometheus text format of one snapshot."""
    registry = new_metrics()

    class _One(Collector):
        def collect(self) -> Iterator[GaugeMetricFamily]:
            yield from families(snap)

    registry.register(_One())
    return generate_latest(registry).decode()


def print_once(args: argparse.Namespace) -> int:
    """``happo-top --once --format prometheus``."""
    settings = common.load_settings(args)
    snap = watch.snapshot_once(watch.watched_roots(args, settings), settings, common.registry())
    sys.stdout.write(text(snap))
    sys.stdout.flush()
    return exit_codes.OK


def parse_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT`` on a loopback address only (the metrics name runs and paths: they are not
    for the network; put a reverse proxy or node_exporter in front for that)."""
    host, sep, port_text = value.rpartition(":")
    if not sep or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise common.UsageError(f"--listen {value}: expected HOST:PORT, e.g. {DEFAULT_LISTEN}")
    host = host.strip("[]") or "127.0.0.1"
    try:
        infos = socket.getaddrinfo(host, int(port_text), type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise common.UsageError(f"--listen {value}: {e.strerror}") from None
    addresses = {info[4][0] for info in infos}
    if not addresses or not all(ipaddress.ip_address(a).is_loopback for a in addresses):
        raise common.UsageError(
            f"--listen {value}: not a loopback address; /metrics is served on loopback only "
            "(127.0.0.1 or ::1)"
        )
    return host, int(port_text)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="happo-top export",
        description="Serve the runs, GPUs and disks as Prometheus metrics on /metrics "
        "(loopback only). For one text dump use: happo-top --once --format prometheus.",
    )
    options.add_roots(p)
    p.add_argument(
        "--prometheus", action="store_true", required=True, help="the Prometheus exporter"
    )
    p.add_argument(
        "--listen",
        default=DEFAULT_LISTEN,
        metavar="HOST:PORT",
        help=f"loopback address to serve /metrics on (default: {DEFAULT_LISTEN})",
    )
    options.add_config(p)
    options.add_stall_timeout(p)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(list(argv or []))
    return common.run_command("happo-top export", _serve, args)


def _serve(args: argparse.Namespace) -> int:
    common.check_roots(args.roots)
    host, port = parse_listen(args.listen)
    settings: Settings = common.load_settings(args)
    roots = watch.watched_roots(args, settings)
    monitor = Monitor(roots, settings, registry=common.registry())
    registry = new_metrics()
    collector = SnapshotCollector(monitor, min_interval=settings.refresh / 2)
    collector.snapshot()  # the first poll (reads every event file) before the first scrape
    registry.register(collector)
    try:
        server, thread = start_http_server(port, addr=host, registry=registry)
    except OSError as e:
        raise common.UsageError(f"--listen {args.listen}: {e.strerror or e}") from None
    print(f"serving http://{host}:{port}/metrics (Ctrl-C to stop)", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(3600):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        monitor.close()
    return exit_codes.OK


__all__ = ["DEFAULT_LISTEN", "SnapshotCollector", "families", "main", "parse_listen", "text"]
