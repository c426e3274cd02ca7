"""Evaluation wall time with the environment copies stepped in this process against worker processes (one
per core, the default), alternating in one run; writes its section of BENCHMARKS.md.

    python benchmarks/evaluation.py [--env pointmaze-medium-v0] [--episodes 50] [--rounds 3]

The policy is an untrained `quick` CRL actor, so that every episode runs to the time limit (the most
environment steps an evaluation can take). Both ways must end every episode alike: the script checks it.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import time

import numpy as np
from report import BENCHMARKS, write_section

import crl
from crl.data.store import env_spaces
from crl.evaluation import block_workers, evaluate_seeds, wave_size
from crl.presets import preset_config
from crl.train import initial_states, policy_for

SECTION = "## Evaluation in worker processes"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="pointmaze-medium-v0")
    parser.add_argument("--episodes", type=int, default=50, help="per task")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    config = preset_config("quick", "pointmaze-medium-navigate-v0", "crl").agent
    obs_shape, action_dim = env_spaces(args.env)
    states = initial_states(config, [0], int(np.prod(obs_shape)), action_dim)
    policy = policy_for(states, config, action_dim, 1)
    jobs = 5 * args.episodes
    workers = len(block_workers(args.env, min(jobs, wave_size(args.env)), None))
    ways = {"this process": 1, f"{workers} worker processes": None}
    for processes in ways.values():  # untimed: builds the copies, starts the workers, compiles the policy
        evaluate_seeds(args.env, policy, 1, [0], progress=False, processes=processes)
    times: dict[str, list[float]] = {way: [] for way in ways}
    results = {}
    for round_ in range(args.rounds):
        for way, processes in ways.items() if round_ % 2 == 0 else reversed(ways.items()):
            tic = time.perf_counter()
            results[way] = evaluate_seeds(args.env, policy, args.episodes, [0], False, processes=processes)
            times[way].append(time.perf_counter() - tic)
            print(round_, way, f"{times[way][-1]:.2f} s", flush=True)
    if len({str(r) for r in results.values()}) != 1:
        raise SystemExit(f"the two ways gave different results: {results}")
    alone, parallel = (statistics.median(t) for t in times.values())
    lines = [
        SECTION,
        "",
        f"Produced by `python benchmarks/evaluation.py --env {args.env} --episodes {args.episodes} --rounds "
        f"{args.rounds}` on {datetime.date.today()}. Machine: {platform.machine()}, {os.cpu_count()} CPU "
        f"cores, no GPU; python {platform.python_version()}, crl {crl.__version__}. One evaluation: 5 "
        f"tasks x {args.episodes} episodes of an untrained `quick` CRL policy (every episode runs to its "
        "time limit), in one wave; the median of the rounds, the two ways alternating. Both gave the same "
        "per-task results.",
        "",
        "| environment | episodes | in this process | in worker processes | speed-up |",
        "| --- | --- | --- | --- | --- |",
        f"| {args.env} | {jobs} | {alone:.1f} s | {parallel:.1f} s ({workers} processes) | "
        f"{alone / parallel:.2f}x |",
    ]
    write_section(BENCHMARKS, SECTION, "\n".join(lines))


if __name__ == "__main__":
    main()
