"""How long `crl expert train NAME` takes: environment steps and updates a second of the `expert` preset
(OGBench's recipe: one copy stepped on the host, the updates compiled and overlapped with it) once
learning, and the whole run's projected wall time; written to BENCHMARKS.md. On a GPU this gives the
humanoid expert's wall time, which the 2-core CPU machines cannot reach (11 days there, BENCHMARKS.md).

python benchmarks/experts.py [--experts ant antball humanoid] [--chunks 3] [--chunk-steps 2000]
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

from crl.cli import EXPERTS  # name -> OGBench's online task, as `crl expert train NAME` trains it

SECTION = "## Expert training: steps a second and the whole run's wall time"


def measure(name: str, chunks: int, chunk_steps: int) -> dict:
    """In this process: the expert preset's env steps/s over `chunks` timed chunks of whole rounds (a
    round: one episode of steps while its updates run), about `chunk_steps` steps each as a run's logging
    interval is, after one random round and one untimed (compiling) chunk."""
    import jax

    from crl.envs import make_env
    from crl.online_experts import expert_job
    from crl.presets import preset_config

    config = preset_config("expert", None, "sac", env=EXPERTS[name])
    config = dataclasses.replace(config, random_steps=config.collect, progress=False)
    job = expert_job(config, make_env(config.env), [0], [])
    collect = config.collect
    chunk = max(1, round(chunk_steps / collect)) * collect
    carry, _ = job.advance(job.initial(), 0, collect)  # random steps
    step, times = collect, []
    for i in range(chunks + 1):
        tic = time.perf_counter()
        carry, _ = job.advance(carry, step, step + chunk)
        jax.block_until_ready(carry)
        if i:
            times.append(time.perf_counter() - tic)
        step += chunk
    rate = chunk / statistics.median(times)
    return {"rate": rate, "collect": collect, "update_ratio": config.update_ratio, "steps": config.steps,
            "device": jax.devices()[0].device_kind}  # fmt: skip


def in_fresh_process(name: str, chunks: int, chunk_steps: int) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--measure",
        name,
        "--chunks",
        str(chunks),
        "--chunk-steps",
        str(chunk_steps),
    ]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def _duration(seconds: float) -> str:
    hours = seconds / 3600
    return f"{hours / 24:.1f} days" if hours >= 48 else f"{hours:.1f} h"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experts", nargs="+", default=list(EXPERTS), choices=list(EXPERTS))
    parser.add_argument("--chunks", type=int, default=3)
    parser.add_argument("--chunk-steps", type=int, default=2000)
    parser.add_argument("--measure", help=argparse.SUPPRESS)  # the child process's expert
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.chunks, args.chunk_steps)))
        return
    import jax
    import mujoco

    rows, device = [], ""
    for name in args.experts:
        m = in_fresh_process(name, args.chunks, args.chunk_steps)
        device = m["device"]
        rows.append(
            f"| {name} | {m['steps']:,} | {m['collect']:,} | {m['rate']:,.0f} | "
            f"{m['rate'] * m['update_ratio']:,.1f} | {_duration(m['steps'] / m['rate'])} |"
        )
        print(rows[-1], flush=True)
    lines = [
        SECTION,
        "",
        f"Produced by `python benchmarks/experts.py --experts {' '.join(args.experts)} --chunks "
        f"{args.chunks} --chunk-steps {args.chunk_steps}` on {datetime.date.today()}. Machine: "
        f"{platform.machine()}, {os.cpu_count()} CPU cores, JAX device: {device}; jax {jax.__version__}, "
        f"mujoco {mujoco.__version__}. The `expert` preset of each (`crl expert train NAME`): one copy of "
        "OGBench's environment stepped on the host, a round = one episode of steps while its updates "
        "run, SAC as OGBench's recipe (humanoid: 3 x 1024 critics). Each rate is the median of "
        f"{args.chunks} timed chunks of whole rounds, about {args.chunk_steps:,} steps each, after a "
        "random round and an untimed (compiling) chunk, in a fresh process per expert; the run's time is "
        "its steps at that rate (random steps, evaluations and checkpoints left out).",
        "",
        "| expert | steps in the run | steps per round | env steps/s | updates/s | the whole run |",
        "| --- | --- | --- | --- | --- | --- |",
        *rows,
    ]
    publish(lines)


if __name__ == "__main__":
    main()
