"""The image robot tasks on the host: steps/s of one copy (a step plus its 64x64 frame) and seconds per
episode reset (which renders the goal image), at crl's shadow map and at the model's own, how far the
frames of the two are apart, and the peak host memory of short `crl train` runs with two replay sizes.
Writes its section of BENCHMARKS.md.

    python benchmarks/robot_images.py [--steps 60] [--repeats 3] [--replays 20000 200000]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import multiprocessing
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version

import numpy as np
from report import publish

from crl.envs import IMAGE_TASKS
from crl.envs.robot_images import SHADOW_MAP, Camera

SECTION = "## Image robot tasks on the host: steps, resets, memory"


def frames_and_times(name: str, shadow_map: int | None, steps: int, repeats: int) -> tuple:
    """(frames of one random trajectory, median s per step, median s per reset) with `shadow_map` (None:
    the model's)."""
    import mujoco  # after crl, which chooses MuJoCo's OpenGL backend

    task = IMAGE_TASKS[name]
    sim = task.state_task.make(0)
    saved = sim.model.vis.quality.shadowsize
    env = Camera(sim, task.view)  # crl's camera sets crl's shadow map before making its renderer...
    if shadow_map is None:  # ...so the model's own needs a renderer made after restoring it
        sim.model.vis.quality.shadowsize = saved
        env.renderer = mujoco.Renderer(sim.model, 64, 64)
    resets, per_step, frames = [], [], []
    for r in range(repeats):
        rng = np.random.default_rng(r)
        tic = time.perf_counter()
        frames.append(task.reset(env, rng)[0])
        resets.append(time.perf_counter() - tic)
        actions = np.random.default_rng(100 + r).uniform(-1, 1, (steps, task.action_dim))
        tic = time.perf_counter()
        for a in actions:
            frame = task.step(env, a)
            if r == 0:
                frames.append(frame)
        per_step.append((time.perf_counter() - tic) / steps)
    return np.stack(frames[: steps + 1]), statistics.median(per_step), statistics.median(resets)


def in_fresh_process(*args) -> tuple:
    """`frames_and_times(*args)` in a process of its own: renderers left from other settings slowed later
    ones by up to 10x in one process."""
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
        return pool.submit(frames_and_times, *args).result()


def peak_memory(replay: int) -> float:
    """GiB: the peak resident memory of a short fetch-reach-image run (2 copies, 300 steps, a checkpoint
    at 200 and at 300) with a replay of `replay` transitions."""
    with tempfile.TemporaryDirectory() as run:
        flags = (
            "--env fetch-reach-image --num-envs 2 --collect 100 --random-steps 100 --env-steps 300 "
            "--log-every 100 --checkpoint-every 200 --eval-every 0 --eval-episodes 2 "
            f"--update-ratio 0.05 --agent.batch-size 8 --replay-size {replay} --no-progress"
        )
        args = ["train", *flags.split(), "--run-dir", f"{run}/run"]
        subprocess.run([sys.executable, "-m", "crl.cli", *args], check=True, capture_output=True)
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20  # the largest child so far


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--replays", type=int, nargs="*", default=[20_000, 200_000])
    args = parser.parse_args()
    args.replays.sort()  # children's peak memory is the largest so far: smallest first
    rows = []
    for name in IMAGE_TASKS:
        ours, step_ours, reset_ours = in_fresh_process(name, SHADOW_MAP, args.steps, args.repeats)
        model, step_model, reset_model = in_fresh_process(name, None, args.steps, args.repeats)
        changed = np.abs(ours.astype(int) - model.astype(int)).max(-1)
        rows.append(
            f"| {name} | {1 / step_ours:,.0f} | {1 / step_model:,.0f} | {step_model / step_ours:.1f} | "
            f"{reset_ours:.2f} | {(changed > 0).mean():.2%} | {changed.max()} |"
        )
    memory = [f"replay {r:,} transitions ({r * 64 * 64 * 3 / 2**30:.2f} GiB of frames): peak "
              f"{peak_memory(r):.2f} GiB" for r in args.replays]  # fmt: skip
    replays = " ".join(map(str, args.replays))
    lines = [
        SECTION,
        "",
        f"Produced by `python benchmarks/robot_images.py --steps {args.steps} --repeats {args.repeats} "
        f"--replays {replays}` on {datetime.date.today()}. Machine: {platform.machine()}, {os.cpu_count()} "
        f"CPU cores, MUJOCO_GL={os.environ.get('MUJOCO_GL')}; mujoco {version('mujoco')}. One copy, random "
        f"actions; medians of {args.repeats} runs of {args.steps} steps, each after a reset (timed apart: "
        "it renders the goal image and the first frame). Frames compared over one trajectory of each.",
        "",
        f"| task | steps/s (shadow map {SHADOW_MAP}, crl's) | steps/s (the model's shadow map) | speed-up | "
        "s per reset | pixels changed | largest change (of 255) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        *rows,
        "",
        "Peak host memory of a short `crl train --env fetch-reach-image` run (CNN agent, 2 copies, "
        "checkpoints at steps 200 and 300), by replay size: " + "; ".join(memory) + ".",
    ]
    publish(lines)


if __name__ == "__main__":
    main()
