"""A stand-in trainer for the process and run-control tests (run as a real child process).

Makes a HARL run directory below --root, optionally holds progress.txt open for writing (as HARL
does) and renames itself (setproctitle), records its argv/cwd/environment in launch.json, writes
final.txt with the signal that ended it, and writes a heartbeat while it holds its files.
"""

import argparse
import json
import os
import signal
import sys
import time

p = argparse.ArgumentParser()
p.add_argument("--root")
p.add_argument("--exp_name")
p.add_argument("--load_config")  # as HARL's train.py: settings from a saved config.json
p.add_argument("--num_env_steps", type=int)
p.add_argument("--seed", type=int, default=1)
p.add_argument("--title")
p.add_argument("--hold", action="store_true")
p.add_argument("--ignore", default="")
p.add_argument("--model_dir")
a = p.parse_args()
if a.load_config:
    with open(a.load_config) as f:
        loaded = json.load(f)
    a.root = a.root or loaded["algo_args"]["logger"]["log_dir"]
    a.exp_name = loaded["main_args"]["exp_name"]  # upstream HARL takes it from the file
    a.seed = loaded["algo_args"]["seed"]["seed"]
if not (a.root and a.exp_name):
    p.error("--root and --exp_name (or --load_config) are required")
for name in filter(None, a.ignore.split(",")):
    signal.signal(getattr(signal, "SIG" + name), signal.SIG_IGN)
exp = os.path.join(a.root, "mapush", "go1push_mid", "happo", a.exp_name)
os.makedirs(exp, exist_ok=True)
while True:
    run = os.path.join(exp, f"seed-{a.seed:05d}-{time.strftime('%Y-%m-%d-%H-%M-%S')}")
    try:
        os.makedirs(run)
        break
    except FileExistsError:
        time.sleep(0.2)
os.makedirs(os.path.join(run, "logs"))
os.makedirs(os.path.join(run, "models"))
cfg = {
    "main_args": {"algo": "happo", "env": "mapush", "exp_name": a.exp_name},
    "env_args": {"task": "go1push_mid"},
    "algo_args": {
        "logger": {"log_dir": a.root},
        "seed": {"seed": a.seed},
        "train": {
            "num_env_steps": a.num_env_steps or 1000000,
            "model_dir": a.model_dir,
            "episode_length": 10,
            "n_rollout_threads": 10,
            "log_interval": 5,
            "eval_interval": 25,
            "use_valuenorm": False,
        },
    },
}
with open(os.path.join(run, "config.json"), "w") as f:
    json.dump(cfg, f)
with open(os.path.join(run, "launch.json"), "w") as f:
    json.dump(
        {
            "argv": sys.argv,
            "cwd": os.getcwd(),
            "env": dict(os.environ),
            "model_dir": a.model_dir,
            "num_env_steps": a.num_env_steps,
            "load_config": a.load_config,
        },
        f,
    )
held = open(os.path.join(run, "progress.txt"), "w") if a.hold else None  # noqa: SIM115 - held open on purpose, as HARL does
if a.title:
    import setproctitle

    setproctitle.setproctitle(a.title)
print("run dir", run, flush=True)


def bye(sig, frame):
    with open(os.path.join(run, "final.txt"), "w") as f:
        f.write(signal.Signals(sig).name)
    sys.exit(128 + sig)


for s in (signal.SIGINT, signal.SIGTERM):
    if signal.getsignal(s) is not signal.SIG_IGN:
        signal.signal(s, bye)
if not a.hold:  # hold nothing open in the run directory
    while True:
        time.sleep(1)
with open(os.path.join(run, "beat.txt"), "a") as out:
    while True:
        out.write("beat\n")
        out.flush()
        time.sleep(0.05)
