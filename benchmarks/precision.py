"""Matmul precision (--agent.precision default | float32 | bf16): update rate and its effect on the
losses, from the same seed on the same data, written to BENCHMARKS.md.

python benchmarks/precision.py [--steps 3000] [--agent crl] [--paper]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import platform
import statistics
import time

import jax
from report import BENCHMARKS, write_section

from crl.data import store
from crl.data.names import data_dir
from crl.data.sampling import to_device
from crl.presets import preset_config
from crl.train import initial_states, run_chunk, validate

SECTION = "## Matmul precision"
DATASET = "pointmaze-medium-navigate-v0"
KEYS = ("critic/loss", "val/loss", "val/categorical_accuracy", "actor/loss")


def measure(config, data, steps: int, chunk: int) -> dict:
    train, val = (to_device(d, config.needs_next_observations) for d in (data.train, data.val))
    obs_dim = data.train["observations"].shape[-1]
    states = initial_states(config, [0], obs_dim, data.action_dim)
    rates, metrics = [], {}
    for i in range(steps // chunk):
        tic = time.perf_counter()
        states, metrics = run_chunk(states, train, config, chunk)
        metrics = jax.device_get(metrics)
        if i > 0:  # the first chunk compiles
            rates.append(chunk / (time.perf_counter() - tic))
    metrics |= jax.device_get(validate(states, val, config))
    return {"rate": statistics.median(rates), **{k: float(metrics[k][0]) for k in KEYS if k in metrics}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--chunk", type=int, default=500)
    parser.add_argument("--paper", action="store_true", help="paper-size configs (a GPU's job)")
    args = parser.parse_args()
    data = store.load(DATASET, data_dir(), progress=False)
    rows = ["| agent | precision | updates/s | " + " | ".join(KEYS) + " |", "|" + " --- |" * (3 + len(KEYS))]
    for agent in ("crl", "mrcrl"):
        preset = ("mrcrl-paper" if agent == "mrcrl" else "paper") if args.paper else "quick"
        base = preset_config(preset, DATASET, agent).agent.for_run(args.steps)
        for precision in ("default", "float32", "bf16"):
            m = measure(dataclasses.replace(base, precision=precision), data, args.steps, args.chunk)
            values = " | ".join(f"{m[k]:.4f}" if k in m else "" for k in KEYS)
            rows.append(f"| {agent} {preset} | {precision} | {m['rate']:.1f} | {values} |")
            print(rows[-1], flush=True)
    command = f"python benchmarks/precision.py --steps {args.steps}{' --paper' if args.paper else ''}"
    lines = [
        SECTION + (" (paper configs)" if args.paper else " (quick configs)"),
        "",
        f"Produced by `{command}` "
        f"on {datetime.date.today()}. Machine: {platform.machine()}, {os.cpu_count()} CPU cores, JAX "
        f"device: {jax.devices()[0].device_kind}; jax {jax.__version__}. {DATASET}, seed 0, one seed; "
        f"updates/s is the median over {args.chunk}-update chunks after the first (compiling) one; the "
        f"losses are the last chunk's means (val: the -val file). On a CPU, default and float32 are the "
        "same float32 arithmetic (their losses agree exactly), so their rates differ by run-to-run noise "
        "only; TF32 exists on NVIDIA GPUs only.",
        "",
        *rows,
    ]
    write_section(BENCHMARKS, lines[0], "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
