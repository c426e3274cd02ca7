"""Success of the scripted controllers and of uniform random actions on each robot task, through crl's
own host rollouts: the evidence that each task's success definition is right (a solver near 100%, random
actions near 0). Prints a markdown table.

    python benchmarks/scripted.py [--episodes 40] [--seed 1]
"""

from __future__ import annotations

import argparse
import time

from crl.envs import scripted
from crl.envs.robots import TASKS, rollout_success


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--tasks", nargs="*", default=sorted(scripted.CONTROLLERS))
    args = parser.parse_args()
    print(f"{args.episodes} episodes per task and policy, seed {args.seed}, {time.strftime('%Y-%m-%d')}\n")
    print("| task | scripted | random | seconds |\n|---|---|---|---|")
    for name in args.tasks:
        task, start = TASKS[name], time.perf_counter()
        solved = rollout_success(task, scripted.CONTROLLERS[name](), args.episodes, args.seed)
        random = rollout_success(task, scripted.random_actions(task.action_dim), args.episodes, args.seed)
        print(f"| {name} | {solved:.1%} | {random:.1%} | {time.perf_counter() - start:.0f} |", flush=True)


if __name__ == "__main__":
    main()
