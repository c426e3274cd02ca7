"""The online loop on the host robot tasks: updates/s of crl-paper-online CRL (4 copies, one update per
collected transition) with acting overlapped on a second CPU device and without it (one CPU device, so
acting waits for each round's updates), against the offline loop at the same network and batch; written
to BENCHMARKS.md. Each measurement runs in a fresh process, because the number of CPU devices is fixed
when JAX starts.

python benchmarks/online_host.py [--rounds 3] [--tasks fetch-reach ...]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time

from report import publish

SECTION = "## Online: the loop on the host robot tasks"
TASK_NAMES = ("fetch-reach", "fetch-push", "sawyer-push", "sawyer-bin", "ant-umaze")


def measure(task_name: str, rounds: int) -> dict:
    """In this process: the online loop's env steps/s (= updates/s at ratio 1) over `rounds` timed rounds
    after one random and one untimed learning round, and the offline updates/s at the same network."""
    import jax

    from crl.bench import synthetic_dataset
    from crl.data.sampling import to_device
    from crl.envs import make_env
    from crl.online import online_job
    from crl.presets import preset_config
    from crl.train import initial_states, run_chunk

    task = make_env(task_name)
    config = preset_config("crl-paper-online", None, "crl", env=task_name)
    config = dataclasses.replace(config, random_steps=config.collect, progress=False)
    job = online_job(config, [0], [])
    carry, _ = job.advance(job.initial(), 0, config.collect)  # random episodes into the replay
    carry, _ = job.advance(carry, config.collect, 2 * config.collect)  # compiles the learning round
    jax.block_until_ready(carry)
    start, times = 2 * config.collect, []
    for _ in range(rounds):
        tic = time.perf_counter()
        carry, _ = job.advance(carry, start, start + config.collect)
        jax.block_until_ready(carry)
        times.append(time.perf_counter() - tic)
        start += config.collect
    online = config.collect / statistics.median(times)

    data = to_device(synthetic_dataset(200_000, task.obs_dim, task.action_dim))
    states = initial_states(config.agent, [0], task.obs_dim, task.action_dim)
    updates = round(config.collect * config.update_ratio)
    jax.block_until_ready(run_chunk(states, data, config.agent, updates))
    times = []
    for _ in range(rounds):
        tic = time.perf_counter()
        states, _ = run_chunk(states, data, config.agent, updates)
        jax.block_until_ready(states)
        times.append(time.perf_counter() - tic)
    return {"online": online, "offline": updates / statistics.median(times), "collect": config.collect,
            "devices": len(jax.devices("cpu"))}  # fmt: skip


def in_fresh_process(task_name: str, rounds: int, cpu_devices: int) -> dict:
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={cpu_devices}")
    cmd = [sys.executable, __file__, "--measure", task_name, "--rounds", str(rounds)]
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tasks", nargs="+", default=list(TASK_NAMES))
    parser.add_argument("--measure", help=argparse.SUPPRESS)  # the child process's task
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.rounds)))
        return
    import jax
    import mujoco

    rows = []
    for name in args.tasks:
        overlapped = in_fresh_process(name, args.rounds, 2)
        serial = in_fresh_process(name, args.rounds, 1)
        rows.append(
            f"| {name} | {overlapped['collect']} | {overlapped['online']:,.0f} | {serial['online']:,.0f} | "
            f"{overlapped['online'] / serial['online']:.2f} | {overlapped['offline']:,.0f} | "
            f"{overlapped['online'] / overlapped['offline']:.2f} |"
        )
        print(rows[-1], flush=True)
    lines = [
        SECTION,
        "",
        f"Produced by `python benchmarks/online_host.py --rounds {args.rounds}` on {datetime.date.today()}. "
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, JAX device: "
        f"{jax.devices()[0].device_kind}; jax {jax.__version__}, mujoco {mujoco.__version__}. The "
        "crl-paper-online config (2 x 256 ReLU, representation 64, batch 256, one critic, tanh-Gaussian "
        "actor; 4 copies, a round = one episode per copy, then as many updates). Rates are medians of "
        f"{args.rounds} timed rounds after an untimed one; the online rate counts environment steps, which "
        "at ratio 1 are also updates. Offline: `run_chunk` on a synthetic dataset of the task's dimensions, "
        "chunks of one round's updates.",
        "",
        "| task | steps per round | online, acting overlapped (2 CPU devices) | online, not overlapped "
        "(1 CPU device) | overlap gain | offline, updates/s | online (overlapped) / offline |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        *rows,
    ]
    publish(lines)


if __name__ == "__main__":
    main()
