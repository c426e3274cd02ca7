"""Online training speed: the JAX point environments alone, the online loop against the offline loop at
the same network and batch, and the quick online preset's wall time; written to BENCHMARKS.md.

python benchmarks/online.py [--env point-spiral11x11] [--repeats 3] [--no-preset]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import jax
import jax.numpy as jnp
from report import publish

from crl.bench import synthetic_dataset
from crl.data.sampling import to_device
from crl.envs import make_env
from crl.online import Rounds, online_job, run_online_chunk
from crl.presets import preset_config
from crl.train import initial_states, run_chunk, train

SECTION = "## Online: environment steps and the online loop"


def median_rate(fn, work: int, repeats: int) -> float:
    """work / median seconds of `fn()` over `repeats` timed calls, after one untimed (compiling) call."""
    jax.block_until_ready(fn())
    times = []
    for _ in range(repeats):
        tic = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - tic)
    return work / statistics.median(times)


def env_steps_per_s(name: str, copies: int, steps: int, repeats: int) -> float:
    """Steps of `copies` environments under one jitted scan, random actions, counted over all copies."""
    env = make_env(name)

    @jax.jit
    def run(key):
        def step(states, k):
            k_act, k_noise = jax.random.split(k)
            actions = jax.random.uniform(k_act, (copies, 2), minval=-1, maxval=1)
            return jax.vmap(env.step)(states, actions, jax.random.split(k_noise, copies)), None

        states = jax.vmap(env.reset)(jax.random.split(key, copies))
        return jax.lax.scan(step, states, jax.random.split(key, steps))[0].position

    return median_rate(lambda: run(jax.random.PRNGKey(0)), copies * steps, repeats)


def loop_rates(env_name: str, updates: int, repeats: int) -> tuple[float, float]:
    """(online, offline) updates/s of the crl-paper-online network and batch: online at ratio 1 (each update
    comes with one collected transition), offline on a synthetic dataset of the same dimensions."""
    config = dataclasses.replace(preset_config("crl-paper-online", None, "crl", env=env_name), progress=False)
    env = make_env(env_name)
    job = online_job(config, [0], [])
    states, collectors = job.initial()
    # Fill the replay with random episodes first, so that timed updates sample a realistic buffer.
    states, collectors, _ = run_online_chunk(
        states, collectors, env, Rounds.of(config), config.agent, 640, False, jnp.int32(0)
    )
    carry = [states, collectors, 640 * config.collect]

    def online_chunk():
        carry[0], carry[1], metrics = run_online_chunk(
            carry[0],
            carry[1],
            env,
            Rounds.of(config),
            config.agent,
            updates // config.collect,
            True,
            jnp.int32(carry[2]),
        )
        carry[2] += updates
        return metrics

    data = to_device(synthetic_dataset(1_000_000, *env.obs_shape, env.action_dim))
    offline = [initial_states(config.agent, [0], env.obs_shape, env.action_dim)]

    def offline_chunk():
        offline[0], metrics = run_chunk(offline[0], data, config.agent, updates)
        return metrics

    return median_rate(online_chunk, updates, repeats), median_rate(offline_chunk, updates, repeats)


def quick_preset_wall_time(env_name: str) -> tuple[float, float]:
    """Seconds of `crl train --env ENV` (quick preset) end to end, and its final success rate."""
    config = dataclasses.replace(preset_config("quick", None, "crl", env=env_name), progress=False)
    with tempfile.TemporaryDirectory() as tmp:
        tic = time.perf_counter()
        (result,) = train(dataclasses.replace(config, run_dir=Path(tmp) / "run"))
        return time.perf_counter() - tic, result.overall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="point-spiral11x11")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--updates", type=int, default=1024, help="updates per timed chunk of the loops")
    parser.add_argument("--no-preset", action="store_true", help="skip the quick preset's end-to-end run")
    args = parser.parse_args()
    rows = []
    for copies in (1, 256):
        rate = env_steps_per_s(args.env, copies, 2000, args.repeats)
        copies_text = "1 copy" if copies == 1 else f"{copies} copies"
        rows.append(f"| {args.env} alone, {copies_text} | {rate:,.0f} env steps/s |")
    online, offline = loop_rates(args.env, args.updates, args.repeats)
    rows += [
        f"| online loop, ratio 1 (collect 16, 4 envs, then 16 updates) | {online:,.0f} updates/s |",
        f"| offline loop, same network and batch | {offline:,.0f} updates/s |",
        f"| online / offline | {online / offline:.2f} |",
    ]
    if not args.no_preset:
        seconds, success = quick_preset_wall_time("point-fourrooms")
        run = "`crl train --env point-fourrooms` (quick: 30k env steps), wall time"
        rows.append(f"| {run} | {seconds:.0f} s (final success {success:.0%}) |")
    device = jax.devices()[0].device_kind
    lines = [
        SECTION,
        "",
        f"Produced by `python benchmarks/online.py --env {args.env}` on {datetime.date.today()}. Machine: "
        f"{platform.machine()}, {os.cpu_count()} CPU cores, JAX device: {device}; jax {jax.__version__}. "
        f"Rates are medians of {args.repeats} timed calls after one untimed (compiling) call. The loops use "
        "the crl-paper-online network and batch (2 x 256 ReLU, representation 64, batch 256, one critic, "
        f"tanh-Gaussian actor); timed chunks of {args.updates} updates, the online one on a replay that "
        "holds 10,240 random transitions and grows.",
        "",
        "| measured | rate |",
        "|---|---|",
        *rows,
    ]
    publish(lines)


if __name__ == "__main__":
    jnp.zeros(())  # start JAX before timing anything
    main()
