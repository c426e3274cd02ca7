"""Host (native MuJoCo) robot tasks: environment steps/s of one copy and of N copies, stepped by crl's plain
loop (`crl.envs.robots.HostEnvs`) and by gymnasium's AsyncVectorEnv (one process per copy); written to
BENCHMARKS.md. Random actions; rates count steps over all copies.

python benchmarks/host_envs.py [--copies 16] [--steps 200] [--repeats 3]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import time

import gymnasium as gym
import mujoco
import numpy as np
from report import publish

from crl.envs.robots import TASKS, HostEnvs

SECTION = "## Robot tasks on the host: environment steps"


def median_rate(step_once, copies: int, steps: int, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        tic = time.perf_counter()
        for _ in range(steps):
            step_once()
        times.append(time.perf_counter() - tic)
    return copies * steps / statistics.median(times)


def plain_loop(name: str, copies: int, steps: int, repeats: int) -> float:
    task = TASKS[name]
    envs = HostEnvs(task, copies, seed=0)
    envs.reset([(0, i) for i in range(copies)])
    rng = np.random.default_rng(0)
    actions = lambda: rng.uniform(-1, 1, (copies, task.action_dim))  # noqa: E731
    return median_rate(lambda: envs.step(actions()), copies, steps, repeats)


def async_vector(name: str, copies: int, steps: int, repeats: int) -> float:
    task = TASKS[name]
    envs = gym.vector.AsyncVectorEnv([lambda s=s: task.make(s) for s in range(copies)])
    envs.reset(seed=0)
    rng = np.random.default_rng(0)
    actions = lambda: rng.uniform(-1, 1, (copies, task.action_dim))  # noqa: E731
    try:
        return median_rate(lambda: envs.step(actions()), copies, steps, repeats)
    finally:
        envs.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=16)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rows = []
    for name in TASKS:
        one = plain_loop(name, 1, args.steps, args.repeats)
        many = plain_loop(name, args.copies, args.steps // 4, args.repeats)
        forked = (
            async_vector(name, args.copies, args.steps // 4, args.repeats)
            if name.startswith("fetch")
            else None
        )
        rows.append(f"| {name} | {one:,.0f} | {many:,.0f} | {f'{forked:,.0f}' if forked else '-'} |")
    lines = [
        SECTION,
        "",
        f"Produced by `python benchmarks/host_envs.py --copies {args.copies} --steps {args.steps}` on "
        f"{datetime.date.today()}. Machine: {platform.machine()}, {os.cpu_count()} CPU cores; mujoco "
        f"{mujoco.__version__}, gymnasium {gym.__version__}. Environment steps/s over all copies, random "
        f"actions, medians of {args.repeats} timed runs; episodes run on past their length (no resets "
        "timed). Sawyer steps as crl does (mocap and simulation, without Meta-World's dense reward), so "
        "gymnasium's vector env, which calls the environment's own step, is timed on Fetch only.",
        "",
        f"| task | 1 copy, plain loop | {args.copies} copies, plain loop | {args.copies} copies, "
        "gymnasium AsyncVectorEnv (a process each) |",
        "| --- | --- | --- | --- |",
        *rows,
    ]
    publish(lines)


if __name__ == "__main__":
    main()
