"""The benchmark suite behind `crl bench` and benchmarks/throughput.py (`suite`): update throughput
(1 and N seeds), FLOPs per update from XLA's cost analysis against the machine's measured matmul
rate, where the time goes (crl.profiling), evaluation speed, dataset load and transfer time, and
memory. Timings are medians of repeated measurements."""

from __future__ import annotations

import resource
import statistics
import tempfile
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from crl.agents import sample_and_update
from crl.config import AgentConfig
from crl.data.dataset import read_npz, to_layout
from crl.data.npz import write_npz_atomic
from crl.data.sampling import DeviceData, to_device
from crl.data.store import env_spaces
from crl.presets import preset_config
from crl.profiling import format_profile, profile_chunk
from crl.train import initial_states, policy_for, run_chunk, unstack
from crl.workers import usable_cores


def synthetic_dataset(n: int, obs_dim: int, action_dim: int, episode: int = 1001, seed: int = 0) -> dict:
    """Random data in the regular layout, for throughput (the update's cost does not depend on the values)."""
    rng = np.random.default_rng(seed)
    terminals = np.zeros(n, np.float32)
    terminals[episode - 2 :: episode - 1] = 1.0
    terminals[-1] = 1.0
    return {
        "observations": rng.normal(size=(n, obs_dim)).astype(np.float32),
        "actions": rng.uniform(-1, 1, size=(n, action_dim)).astype(np.float32),
        "next_observations": rng.normal(size=(n, obs_dim)).astype(np.float32),
        "terminals": terminals,
    }


def matmul_flops_per_s(size: int = 2048, repeats: int = 5) -> float:
    """The machine's float32 matrix-multiply rate (median of `repeats`)."""
    a = jnp.ones((size, size), jnp.float32)
    f = jax.jit(lambda x: x @ x)
    f(a).block_until_ready()
    times = []
    for _ in range(repeats):
        tic = time.perf_counter()
        f(a).block_until_ready()
        times.append(time.perf_counter() - tic)
    return 2 * size**3 / statistics.median(times)


@dataclass
class Throughput:
    seeds: int
    updates_per_s: float  # per seed
    flops_per_update: float  # per seed
    cores_busy: float  # process CPU time / wall time while updating: on a CPU, how much of it was used

    @property
    def flops_per_s(self) -> float:
        return self.updates_per_s * self.flops_per_update * self.seeds


def update_throughput(
    config: AgentConfig,
    data: DeviceData,
    seeds: int,
    obs_dim: int,
    action_dim: int,
    length: int,
    repeats: int = 3,
) -> Throughput:
    """Median updates/s (per seed) of `length`-update chunks of `seeds` vmapped seeds, and XLA's FLOPs."""
    states = initial_states(config, range(seeds), obs_dim, action_dim)
    flops = update_flops(config, unstack(states, 0), data)
    states, metrics = run_chunk(states, data, config, length)
    jax.block_until_ready(metrics)
    times, cpu = [], process_cpu_s()
    for _ in range(repeats):
        tic = time.perf_counter()
        states, metrics = run_chunk(states, data, config, length)
        jax.block_until_ready(metrics)
        times.append(time.perf_counter() - tic)
    return Throughput(seeds, length / statistics.median(times), flops, (process_cpu_s() - cpu) / sum(times))


def process_cpu_s() -> float:
    """CPU seconds used so far by every thread of this process."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def lowered_update(config: AgentConfig, state, data: DeviceData) -> jax.stages.Lowered:
    """One update as its own program (a scan's body would be counted once, not per step); `state` may be
    shapes alone (`jax.eval_shape`)."""
    return jax.jit(partial(sample_and_update, config=config)).lower(state, data)


def flops(program: jax.stages.Lowered | jax.stages.Compiled) -> float:
    """XLA's FLOP count of a lowered (before optimisation) or compiled program."""
    cost = program.cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    return float(cost.get("flops", float("nan")))


def update_flops(config: AgentConfig, state, data: DeviceData) -> float:
    """XLA's FLOP count of one update, compiled."""
    return flops(lowered_update(config, state, data).compile())


def evaluation_speed(env_id: str, config: AgentConfig, action_dim: int, obs_dim: int, episodes: int) -> dict:
    """Wall time of one OGBench-protocol evaluation (5 tasks x `episodes`) of an untrained policy, run twice:
    the first also starts the worker processes and builds the environment copies, which later
    evaluations reuse."""
    from crl.evaluation import block_workers, evaluate_seeds, wave_size

    policy = policy_for(initial_states(config, [0], obs_dim, action_dim), config, action_dim, 1)
    times = []
    for _ in range(2):
        tic = time.perf_counter()
        evaluate_seeds(env_id, policy, episodes, [0], progress=False)
        times.append(time.perf_counter() - tic)
    copies = min(5 * episodes, wave_size(env_id))
    workers = len(block_workers(env_id, copies, None))
    return {"episodes": 5 * episodes, "copies": copies, "workers": workers, "build_s": times[0] - times[1],
            "run_s": times[1], "episodes_per_s": 5 * episodes / times[1]}  # fmt: skip


def load_time(n: int, obs_dim: int, action_dim: int) -> float:
    """Seconds to read and validate an OGBench-format file of `n` rows (written as `crl data generate`
    writes it, compressed) and turn it into the regular layout, as `crl train` does."""
    regular = synthetic_dataset(n, obs_dim, action_dim)
    raw = {k: regular[k] for k in ("observations", "actions", "terminals")}
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "bench.npz"
        write_npz_atomic(path, raw)
        tic = time.perf_counter()
        to_layout(read_npz(path))
        return time.perf_counter() - tic


def transfer_time(regular: dict) -> float:
    tic = time.perf_counter()
    jax.block_until_ready(to_device(regular))
    return time.perf_counter() - tic


def peak_host_memory_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def device_memory_gib() -> float | None:
    stats = jax.devices()[0].memory_stats()
    return None if not stats else stats.get("peak_bytes_in_use", 0) / 2**30


def suite(paper: bool, seeds: int, length: int) -> str:
    """The quick (or paper-config) benchmark suite as a Markdown table."""
    dataset = "pointmaze-medium-navigate-v0"
    regular = synthetic_dataset(1_000_000, obs_dim=2, action_dim=2)
    load = load_time(1_000_000, obs_dim=2, action_dim=2)
    transfer = transfer_time(regular)
    data = to_device(regular)
    peak_matmul = matmul_flops_per_s()
    on_cpu = jax.devices()[0].platform == "cpu"  # on a GPU the process's CPU time is the host's, not the work
    rows = ["| measurement | value |", "| --- | --- |"]
    rows.append(f"| float32 matmul rate (2048^3) | {peak_matmul / 1e9:,.1f} GFLOP/s |")
    rows.append(f"| dataset load (1M-row .npz: read, validate, regular layout) | {load:.2f} s |")
    rows.append(f"| dataset to device (1M x 2 obs) | {transfer * 1e3:.0f} ms |")
    for agent in ("crl", "mrcrl"):
        preset = ("mrcrl-paper" if agent == "mrcrl" else "paper") if paper else "quick"
        config = preset_config(preset, dataset, agent).agent.for_run(1_000_000)
        for n in sorted({1, seeds}):
            t = update_throughput(config, data, n, 2, 2, length)
            share = t.flops_per_s / peak_matmul
            busy = f"; {t.cores_busy:.2f} of {usable_cores()} cores busy" if on_cpu else ""
            rows.append(
                f"| {agent} {preset}, {n} seed(s) | {t.updates_per_s:,.1f} updates/s per seed, "
                f"{t.flops_per_update / 1e9:.2f} GFLOP/update, {t.flops_per_s / 1e9:,.1f} GFLOP/s "
                f"({share:.0%} of the matmul rate{busy}) |"
            )
        rows += format_profile(
            f"where {agent} {preset}'s time goes", profile_chunk(config, data, 1, 2, 2, length)
        )
    config = preset_config("quick", dataset, "crl").agent
    for env_id in ("pointmaze-medium-v0", "cube-single-v0"):
        obs_shape, action_dim = env_spaces(env_id)
        ev = evaluation_speed(env_id, config, action_dim, int(np.prod(obs_shape)), episodes=50)
        rows.append(
            f"| evaluation, {env_id} (5 tasks x 50 episodes, untrained quick policy) | {ev['run_s']:.1f} s "
            f"({ev['episodes_per_s']:.1f} episodes/s, {ev['copies']} env copies in {ev['workers']} "
            f"process(es); starting them {ev['build_s']:.1f} s more) |"
        )
    rows.append(f"| peak host memory | {peak_host_memory_gib():.2f} GiB |")
    device_memory = device_memory_gib()
    if device_memory is not None:
        rows.append(f"| peak device memory | {device_memory:.2f} GiB |")
    return "\n".join(rows)
