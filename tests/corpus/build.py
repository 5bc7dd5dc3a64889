"""A corpus of damaged and hostile HARL runs, next to good ones (issue 11).

``build_corpus(root)`` makes every case below ``root`` and returns them. Event files are written
by the real writers (tensorboardX ``SummaryWriter``, tensorboard's ``EventFileWriter``) wherever
a writer can make the case; the rest (bogus framing, garbage, sparse holes, FIFOs, names that
are not UTF-8) are made by hand on top of real files.

Each :class:`Case` says what the monitor must do with it: a ``good`` run is shown with exactly
EventAccumulator's points; a ``bad`` run is shown with an error that names ``error_in`` (a file
or directory of the case); an ``odd`` run is shown, nothing more is promised.
"""

from __future__ import annotations

import json
import os
import random
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tensorboard.compat.proto import event_pb2, tensor_pb2, tensor_shape_pb2
from tensorboard.summary.writer.event_file_writer import EventFileWriter
from tensorboardX import SummaryWriter

from collectors.sources.runs.event_reader import masked_crc32c
from tests.builders import HARL_CONFIG, write_harl_config

GOOD, BAD, ODD = "good", "bad", "odd"
STAMP = "2025-11-15-15-34-13"
REWARD = "train_episode_rewards"


@dataclass
class Case:
    name: str
    kind: str  # GOOD, BAD or ODD
    path: Path  # the run directory (bytes-named cases: its str form, surrogate-escaped)
    error_in: str | None = None  # BAD: the error names this file or directory (a basename)


def run_dir(root: Path, exp: str, seed: int = 1, stamp: str = STAMP) -> Path:
    run = root / "mapush" / "go1push_mid" / "happo" / exp / f"seed-{seed:05d}-{stamp}"
    (run / "logs").mkdir(parents=True)
    (run / "models").mkdir()
    return run


def config(run: Path, exp: str, **train) -> None:
    cfg = json.loads(json.dumps(HARL_CONFIG))
    cfg["main_args"]["exp_name"] = exp
    cfg["algo_args"]["train"].update(train)
    write_harl_config(run, cfg)


def scalars(run: Path, n: int = 20, tag: str = REWARD, **extra) -> Path:
    """A real tensorboardX run: ``n`` points of the reward (and ``agent0/dist_entropy``)."""
    d = run / "logs"
    with SummaryWriter(str(d), flush_secs=3600) as w:
        for i in range(1, n + 1):
            w.add_scalar(tag, -20.0 + i * 0.1, i * 100_000, walltime=1.7e9 + i * 60)
            w.add_scalar(
                "agent0/dist_entropy", 1.5 - i * 0.01, i * 100_000, walltime=1.7e9 + i * 60
            )
    return event_file(run)


def event_file(run: Path) -> Path:
    return next(p for p in sorted((run / "logs").rglob("events.out.tfevents.*")) if p.is_file())


def frame(payload: bytes, length: int | None = None) -> bytes:
    head = struct.pack("<Q", len(payload) if length is None else length)
    return (
        head
        + struct.pack("<I", masked_crc32c(head))
        + payload
        + struct.pack("<I", masked_crc32c(payload))
    )


def scalar_event(tag: str, value: float, step: int, wall: float) -> bytes:
    ev = event_pb2.Event(wall_time=wall, step=step)
    ev.summary.value.add(tag=tag, simple_value=value)
    return ev.SerializeToString()


def tensor_event(tag: str, tensor: tensor_pb2.TensorProto, step: int, wall: float) -> bytes:
    ev = event_pb2.Event(wall_time=wall, step=step)
    ev.summary.value.add(tag=tag, tensor=tensor)
    return ev.SerializeToString()


def tb_writer_events(run: Path, events: list[event_pb2.Event]) -> Path:
    """Events through tensorboard's own EventFileWriter (it frames and CRCs them)."""
    w = EventFileWriter(str(run / "logs"))
    for ev in events:
        w.add_event(ev)
    w.close()
    return event_file(run)


# -- the cases ------------------------------------------------------------------------------------

CASES: list[tuple[str, str, Callable[[Path, str], str | None]]] = []


def case(kind: str):
    def register(fn):
        CASES.append((fn.__name__.removeprefix("c_"), kind, fn))
        return fn

    return register


@case(GOOD)
def c_good_a(run, exp):
    config(run, exp)
    scalars(run)


@case(GOOD)
def c_good_b(run, exp):
    config(run, exp, num_env_steps=2_000_000.0)
    scalars(run, n=40)


@case(GOOD)
def c_good_add_scalars(run, exp):
    """HARL's way: ``add_scalars(k, {k: v})``, one sub-writer per key."""
    config(run, exp)
    with SummaryWriter(str(run / "logs"), flush_secs=3600) as w:
        for i in range(1, 11):
            for k, v in (("agent0/dist_entropy", 1.4), ("agent0/actor_grad_norm", 0.3)):
                w.add_scalars(k, {k: v}, i * 1000)
            w.add_scalar(REWARD, -10.0 + i, i * 1000)


@case(ODD)
def c_step_minus_one(run, exp):
    config(run, exp)
    scalars(run)
    with SummaryWriter(str(run / "logs" / "neg"), flush_secs=3600) as w:
        w.add_scalar("neg/step", 1.0, -1)
        w.add_scalar(REWARD + "_neg", 1.0, -1)


@case(ODD)
def c_step_max(run, exp):
    config(run, exp)
    scalars(run)
    with SummaryWriter(str(run / "logs" / "big"), flush_secs=3600) as w:
        w.add_scalar("big/step", 1.0, 2**63 - 1)


@case(ODD)
def c_step_max_is_the_reward(run, exp):
    config(run, exp)
    with SummaryWriter(str(run / "logs"), flush_secs=3600) as w:
        w.add_scalar(REWARD, 1.0, 1000)
        w.add_scalar(REWARD, 2.0, 2**63 - 1)


@case(ODD)
def c_wall_time_nan(run, exp):
    config(run, exp)
    with SummaryWriter(str(run / "logs"), flush_secs=3600) as w:
        for i in range(1, 6):
            w.add_scalar(REWARD, float(i), i * 1000, walltime=float("nan") if i == 3 else None)


@case(ODD)
def c_wall_time_1e300(run, exp):
    config(run, exp)
    with SummaryWriter(str(run / "logs"), flush_secs=3600) as w:
        for i in range(1, 6):
            w.add_scalar(REWARD, float(i), i * 1000, walltime=1e300 if i == 5 else 1.7e9 + i)


@case(ODD)
def c_wall_time_negative_and_inf(run, exp):
    config(run, exp)
    with SummaryWriter(str(run / "logs"), flush_secs=3600) as w:
        w.add_scalar(REWARD, 1.0, 1000, walltime=-1e300)
        w.add_scalar(REWARD, 2.0, 2000, walltime=float("inf"))
        w.add_scalar(REWARD, 3.0, 3000, walltime=1.7e9)


@case(ODD)
def c_value_nan_and_inf(run, exp):
    config(run, exp)
    with SummaryWriter(str(run / "logs"), flush_secs=3600) as w:
        for i, v in enumerate([1.0, float("nan"), float("inf"), -float("inf"), 2.0]):
            w.add_scalar(REWARD, v, (i + 1) * 1000)
            w.add_scalar("agent0/dist_entropy", v, (i + 1) * 1000)


@case(ODD)
def c_tensor_content_two_bytes(run, exp):
    config(run, exp)
    t = tensor_pb2.TensorProto(dtype=1, tensor_content=b"\x01\x02")
    t.tensor_shape.CopyFrom(tensor_shape_pb2.TensorShapeProto())
    ev = event_pb2.Event(wall_time=1.7e9, step=1000)
    ev.summary.value.add(tag=REWARD, tensor=t)
    ev2 = event_pb2.Event(wall_time=1.7e9 + 1, step=2000)
    ev2.summary.value.add(tag=REWARD, simple_value=3.0)
    tb_writer_events(run, [ev, ev2])


@case(ODD)
def c_half_val_tensor(run, exp):
    config(run, exp)
    evs = []
    for i, x in enumerate([1.5, -2.25, 0.5]):
        t = tensor_pb2.TensorProto(dtype=19)  # DT_HALF
        t.half_val.append(struct.unpack("<H", struct.pack("<e", x))[0])
        ev = event_pb2.Event(wall_time=1.7e9 + i, step=(i + 1) * 1000)
        ev.summary.value.add(tag=REWARD, tensor=t)
        evs.append(ev)
    tb_writer_events(run, evs)


@case(ODD)
def c_tensor_odd_dtypes(run, exp):
    config(run, exp)
    evs = []
    for i, t in enumerate(
        [
            tensor_pb2.TensorProto(dtype=2, tensor_content=struct.pack("<d", 4.5)),
            tensor_pb2.TensorProto(dtype=1, tensor_content=b""),
            tensor_pb2.TensorProto(dtype=19, tensor_content=struct.pack("<e", 1.0)),
            tensor_pb2.TensorProto(dtype=19, tensor_content=b"\x00"),
            tensor_pb2.TensorProto(dtype=7, string_val=[b"\x1b[2Jtext"]),
        ]
    ):
        ev = event_pb2.Event(wall_time=1.7e9 + i, step=(i + 1) * 1000)
        ev.summary.value.add(tag=f"t{i}", tensor=t)
        evs.append(ev)
    tb_writer_events(run, evs)


@case(ODD)
def c_tag_rich_markup(run, exp):
    # tensorboardX rewrites '[' in tags; tensorboard's own writer (and HARL forks using it) not
    config(run, exp)
    tags = ("reward[agent0]", "[/]", "[bold red]x[/bold red]", "[link=file:///etc]y", REWARD)
    tb_writer_events(run, [_scalar(t, 1.0, 1000) for t in tags])


@case(ODD)
def c_tag_terminal_escapes(run, exp):
    config(run, exp)
    tags = ("\x1b[2J\x1b[31mred\x07\r", "\x1b]0;title\x07", REWARD)
    tb_writer_events(run, [_scalar(t, 1.0, 1000) for t in tags])


def _scalar(tag: str, value: float, step: int) -> event_pb2.Event:
    ev = event_pb2.Event(wall_time=1.7e9 + step, step=step)
    ev.summary.value.add(tag=tag, simple_value=value)
    return ev


@case(ODD)
def c_tag_not_utf8(run, exp):
    config(run, exp)
    path = scalars(run, n=3)
    with open(path, "ab") as f:
        f.write(frame(scalar_event("x", 1.0, 5000, 1.7e9).replace(b"\nx", b"\n\xff")))
        f.write(
            frame(
                scalar_event(
                    "\udcff".encode("utf-8", "surrogatepass").decode("latin-1"), 1.0, 5000, 1.7e9
                )
            )
        )


@case(ODD)
def c_tag_long_and_empty(run, exp):
    config(run, exp)
    with SummaryWriter(str(run / "logs"), flush_secs=3600) as w:
        w.add_scalar("t" * 20_000, 1.0, 1000)
        w.add_scalar("", 2.0, 1000)
        w.add_scalar(REWARD, 1.0, 1000)


@case(BAD)
def c_garbage_event_file(run, exp):
    config(run, exp)
    rnd = random.Random(1)
    (run / "logs" / "events.out.tfevents.1700000000.host").write_bytes(rnd.randbytes(100_000))
    return "events.out.tfevents.1700000000.host"


@case(BAD)
def c_zero_filled_event_file(run, exp):
    config(run, exp)
    (run / "logs" / "events.out.tfevents.1700000000.host").write_bytes(bytes(2 << 20))
    return "events.out.tfevents.1700000000.host"


@case(BAD)
def c_sparse_hole_then_data(run, exp):
    config(run, exp)
    path = scalars(run, n=5)
    good = path.read_bytes()
    with open(path, "r+b") as f:
        f.truncate(len(good) + (1 << 30))  # a 1 GiB hole (no blocks on disk)
        f.seek(0, 2)
        f.write(good[-200:])
    return path.name


@case(BAD)
def c_bogus_length_with_valid_crc(run, exp):
    config(run, exp)
    with SummaryWriter(str(run / "logs"), flush_secs=3600) as w:
        for i in range(1, 4):
            w.add_scalar(REWARD, float(i), i * 1000, walltime=1.7e9 + i)
    path = event_file(run)
    with open(path, "ab") as f:
        f.write(frame(scalar_event(REWARD, 4.0, 4000, 1.7e9 + 4), length=60 << 20))
        for i in range(5, 50):
            f.write(frame(scalar_event(REWARD, float(i), i * 1000, 1.7e9 + i)))
    return path.name


@case(BAD)
def c_finished_run_cut_mid_record(run, exp):
    config(run, exp)
    path = scalars(run, n=10)
    data = path.read_bytes()
    path.write_bytes(data[:-7])
    (run / "logs" / "summary.json").write_text("{}")
    return path.name


@case(BAD)
def c_fifo_event_file(run, exp):
    config(run, exp)
    scalars(run, n=3)
    os.mkfifo(run / "logs" / "events.out.tfevents.1900000000.fifo")
    return "events.out.tfevents.1900000000.fifo"


@case(BAD)
def c_event_file_to_dev_zero(run, exp):
    config(run, exp)
    scalars(run, n=3)
    os.symlink("/dev/zero", run / "logs" / "events.out.tfevents.1900000000.zero")
    return "events.out.tfevents.1900000000.zero"


@case(ODD)
def c_event_file_dangling_symlink(run, exp):
    config(run, exp)
    scalars(run, n=3)
    os.symlink(run / "nowhere", run / "logs" / "events.out.tfevents.1900000000.gone")


@case(ODD)
def c_event_file_is_a_directory(run, exp):
    config(run, exp)
    scalars(run, n=3)
    (run / "logs" / "events.out.tfevents.1900000000.dir").mkdir()


@case(BAD)
def c_event_file_too_deep(run, exp):
    config(run, exp)
    deep = run / "logs" / "a" / "b" / "c" / "d" / "e" / "f" / "g" / "h"
    deep.mkdir(parents=True)
    with SummaryWriter(str(deep), flush_secs=3600) as w:
        w.add_scalar(REWARD, 1.0, 1000)
    return "logs"


@case(BAD)
def c_same_tag_two_subdirs(run, exp):
    """Two sub-writers hold the tag 'agent0' (add_scalars with two keys): a reported clash."""
    config(run, exp)
    with SummaryWriter(str(run / "logs"), flush_secs=3600) as w:
        for i in range(1, 4):
            w.add_scalars("agent0", {"dist_entropy": 1.0 + i, "actor_grad_norm": 0.5}, i * 1000)
            w.add_scalar(REWARD, float(i), i * 1000)
    return "logs"


@case(ODD)
def c_same_tag_main_and_subwriter(run, exp):
    """A tag in the main file and in its add_scalars sub-writer, the sub-writer read later."""
    config(run, exp)
    with SummaryWriter(str(run / "logs"), flush_secs=3600) as w:
        for i in range(1, 4):
            w.add_scalar("agent0/dist_entropy", 9.0, i * 1000)
            w.add_scalars("agent0/dist_entropy", {"agent0/dist_entropy": 1.0 + i}, i * 1000)
            w.add_scalar(REWARD, float(i), i * 1000)


@case(ODD)
def c_histograms_only(run, exp):
    config(run, exp)
    with SummaryWriter(str(run / "logs"), flush_secs=3600) as w:
        for i in range(1, 4):
            w.add_histogram("h", [1.0, 2.0, 3.0], i)
            w.add_text("notes", "\x1b[2J[bold]hi[/]", i)


@case(ODD)
def c_restart_with_lower_step(run, exp):
    config(run, exp)
    with SummaryWriter(str(run / "logs"), flush_secs=3600, filename_suffix=".a") as w:
        for i in range(1, 11):
            w.add_scalar(REWARD, float(i), i * 1000)
    (run / "logs" / "later").mkdir()
    with SummaryWriter(str(run / "logs"), flush_secs=3600, filename_suffix=".b") as w:
        for i in range(5, 8):
            w.add_scalar(REWARD, float(-i), i * 1000)


# config.json ------------------------------------------------------------------------------------


@case(BAD)
def c_config_fifo(run, exp):
    os.mkfifo(run / "config.json")
    scalars(run, n=3)
    return "config.json"


@case(BAD)
def c_config_to_dev_zero(run, exp):
    os.symlink("/dev/zero", run / "config.json")
    scalars(run, n=3)
    return "config.json"


@case(BAD)
def c_config_is_a_directory(run, exp):
    (run / "config.json").mkdir()
    scalars(run, n=3)
    return "config.json"


@case(ODD)
def c_config_nan_in_a_list(run, exp):
    cfg = json.loads(json.dumps(HARL_CONFIG))
    cfg["main_args"]["exp_name"] = exp
    cfg["algo_args"]["train"]["weird"] = [float("nan"), 1.0, float("inf"), {"x": float("-inf")}]
    cfg["algo_args"]["train"]["nan"] = float("nan")
    write_harl_config(run, cfg)
    scalars(run, n=3)


@case(BAD)
def c_config_nested_100k_lists(run, exp):
    (run / "config.json").write_text("[" * 100_000 + "]" * 100_000)
    scalars(run, n=3)
    return "config.json"


@case(BAD)
def c_config_nested_100k_objects(run, exp):
    (run / "config.json").write_text('{"a":' * 100_000 + "1" + "}" * 100_000)
    scalars(run, n=3)
    return "config.json"


@case(ODD)
def c_config_nested_deep_but_parsable(run, exp):
    text = json.dumps(HARL_CONFIG)
    deep = '{"a":' * 400 + "1" + "}" * 400
    (run / "config.json").write_text(text[:-1] + ', "deep": ' + deep + "}")
    scalars(run, n=3)


@case(ODD)
def c_config_5000_digit_integer(run, exp):
    text = json.dumps(HARL_CONFIG).replace("100000000.0", "1" + "0" * 5000)
    (run / "config.json").write_text(text)
    scalars(run, n=3)


@case(ODD)
def c_config_huge_numbers(run, exp):
    text = (
        json.dumps(HARL_CONFIG)
        .replace("100000000.0", "1e999")
        .replace('"log_interval": 5', '"log_interval": 1e308')
    )
    (run / "config.json").write_text(text.replace('"seed": 1,', '"seed": 1' + "0" * 40 + ","))
    scalars(run, n=3)


@case(ODD)
def c_config_exp_name_int(run, exp):
    cfg = json.loads(json.dumps(HARL_CONFIG))
    cfg["main_args"]["exp_name"] = 7
    write_harl_config(run, cfg)
    scalars(run, n=3)


@case(ODD)
def c_config_exp_name_list(run, exp):
    cfg = json.loads(json.dumps(HARL_CONFIG))
    cfg["main_args"]["exp_name"] = ["a", {"b": None}]
    cfg["main_args"]["algo"] = {"x": 1}
    cfg["main_args"]["env"] = 3.5
    cfg["env_args"]["task"] = None
    write_harl_config(run, cfg)
    scalars(run, n=3)


@case(ODD)
def c_config_wrong_types(run, exp):
    cfg = json.loads(json.dumps(HARL_CONFIG))
    cfg["main_args"]["exp_name"] = exp
    t = cfg["algo_args"]["train"]
    t.update(num_env_steps="lots", episode_length=-5, n_rollout_threads=0, log_interval=True)
    t["eval_interval"] = [1]
    cfg["algo_args"]["algo"]["max_grad_norm"] = "x"
    cfg["algo_args"]["seed"]["seed"] = "s"
    cfg["algo_args"]["train"]["use_valuenorm"] = "yes"
    write_harl_config(run, cfg)
    scalars(run, n=3)


@case(ODD)
def c_config_markup_and_escapes(run, exp):
    cfg = json.loads(json.dumps(HARL_CONFIG))
    cfg["main_args"]["exp_name"] = "\x1b[2J\x1b]0;pwned\x07[bold red]boom[/]"
    cfg["algo_args"]["model"]["lr"] = "[/]\x1b[31m"
    cfg["[/]"] = {"\x1b[1m": "x"}
    write_harl_config(run, cfg)
    scalars(run, n=3)


@case(ODD)
def c_config_long_exp_name(run, exp):
    cfg = json.loads(json.dumps(HARL_CONFIG))
    cfg["main_args"]["exp_name"] = "x" * 100_000
    write_harl_config(run, cfg)
    scalars(run, n=3)


@case(BAD)
def c_config_not_an_object(run, exp):
    (run / "config.json").write_text("[1, 2, 3]")
    scalars(run, n=3)
    return "config.json"


@case(BAD)
def c_config_malformed(run, exp):
    (run / "config.json").write_text('{"main_args": {"exp_name": "x",')
    scalars(run, n=3)
    return "config.json"


@case(BAD)
def c_config_binary(run, exp):
    (run / "config.json").write_bytes(b"\xff\xfe\x00garbage\x80")
    scalars(run, n=3)
    return "config.json"


@case(BAD)
def c_config_huge_sparse(run, exp):
    with open(run / "config.json", "wb") as f:
        f.truncate(200 << 20)  # 200 MiB of zeros, no blocks
    scalars(run, n=3)
    return "config.json"


@case(ODD)
def c_config_empty_keys(run, exp):
    (run / "config.json").write_text('{"": {"": 1}, "a.b": {"c": 2}, "main_args": {}}')
    scalars(run, n=3)


# the directory ----------------------------------------------------------------------------------


@case(ODD)
def c_logs_is_a_file(run, exp):
    config(run, exp)
    (run / "logs").rmdir()
    (run / "logs").write_text("not a directory")


@case(ODD)
def c_logs_symlink_loop(run, exp):
    config(run, exp)
    scalars(run, n=3)
    os.symlink("..", run / "logs" / "up")
    os.symlink(".", run / "logs" / "self")


@case(ODD)
def c_summary_json_fifo(run, exp):
    config(run, exp)
    scalars(run, n=3)
    os.mkfifo(run / "logs" / "summary.json")


@case(ODD)
def c_checkpoint_forty_nines(run, exp):
    config(run, exp)
    scalars(run, n=3)
    (run / "models" / f"rl_model_{'9' * 40}_steps").mkdir()


@case(ODD)
def c_checkpoints_odd_names(run, exp):
    config(run, exp)
    scalars(run, n=3)
    (run / "models" / "rl_model_-5_steps").mkdir()
    (run / "models" / "rl_model_x_steps").mkdir()
    os.mkfifo(run / "models" / "actor_agent0.pt")
    (run / "checkpoints").mkdir()
    (run / "checkpoints" / f"{'9' * 30}M").mkdir()


@case(ODD)
def c_impossible_date(run, exp):
    config(run, exp)
    scalars(run, n=3)
    os.rename(run, run.parent / "seed-00001-2025-99-99-99-99-99")


@case(ODD)
def c_huge_seed_in_name(run, exp):
    config(run, exp)
    scalars(run, n=3)
    os.rename(run, run.parent / f"seed-{'9' * 30}-{STAMP}")


@case(ODD)
def c_markup_in_directory_name(run, exp):
    config(run, exp)
    scalars(run, n=3)


def _not_utf8(root: Path, exp: str) -> Path:
    parent = os.path.join(
        os.fsencode(root), b"mapush", b"go1push_mid", b"happo", b"bad\xff\xfe" + exp.encode()
    )
    run = os.path.join(parent, f"seed-00001-{STAMP}".encode())
    os.makedirs(os.path.join(run, b"logs"))
    return Path(os.fsdecode(run))


# Cases whose directory is made differently (the name is the case).
SPECIAL_DIRS: dict[str, Callable[[Path, str], Path]] = {"not_utf8_directory": _not_utf8}


def _c_not_utf8(run, exp):
    cfg = json.loads(json.dumps(HARL_CONFIG))
    cfg["main_args"].pop("exp_name")
    write_harl_config(run, cfg)
    scalars(run, n=3)


CASES.append(("not_utf8_directory", ODD, _c_not_utf8))

# Exp names the directory builder uses for a few cases (the rest: the case name).
EXP_DIR = {"markup_in_directory_name": "[bold]x[/]\x1b[31m", "config_exp_name_int": "intname"}


def build_corpus(root: Path) -> list[Case]:
    """Every case below ``root`` (one experiment directory per case); returns them."""
    out = []
    for name, kind, make in CASES:
        exp = EXP_DIR.get(name, name)
        special = SPECIAL_DIRS.get(name)
        run = special(root, exp) if special else run_dir(root, exp)
        if special:
            (run / "models").mkdir(exist_ok=True)
        error_in = make(run, exp)
        if name == "impossible_date":
            run = run.parent / "seed-00001-2025-99-99-99-99-99"
        elif name == "huge_seed_in_name":
            run = run.parent / f"seed-{'9' * 30}-{STAMP}"
        out.append(Case(name, kind, run, error_in))
    return out
