"""Measurements behind `crl bench` and benchmarks/throughput.py: update throughput (1 and N seeds),
FLOPs per update from XLA's cost analysis against the machine's measured matmul rate, evaluation
speed, and dataset load and transfer time and memory (the op profile is crl.profiling). Timings are
medians of repeated measurements."""

from __future__ import annotations

import resource
import statistics
import time
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from crl.agents import agent_module
from crl.config import AgentConfig
from crl.data.sampling import DeviceData, to_device
from crl.train import policy_for, run_chunk, stack


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
    agent = agent_module(config)
    states = stack([agent.init(jax.random.PRNGKey(s), config, obs_dim, action_dim) for s in range(seeds)])
    flops = update_flops(config, agent.init(jax.random.PRNGKey(0), config, obs_dim, action_dim), data)
    states, metrics = run_chunk(states, data, config, length)
    jax.block_until_ready(metrics)
    times = []
    for _ in range(repeats):
        tic = time.perf_counter()
        states, metrics = run_chunk(states, data, config, length)
        jax.block_until_ready(metrics)
        times.append(time.perf_counter() - tic)
    return Throughput(seeds, length / statistics.median(times), flops)


def update_flops(config: AgentConfig, state, data: DeviceData) -> float:
    """XLA's FLOP count of one update, compiled alone (a scan's body would be counted once, not per step)."""
    update = jax.jit(partial(agent_module(config).update, config=config))
    cost = update.lower(state, data).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    return float(cost.get("flops", float("nan")))


def evaluation_speed(env_id: str, config: AgentConfig, action_dim: int, obs_dim: int, episodes: int) -> dict:
    """Wall time of one OGBench-protocol evaluation (5 tasks x `episodes`) of an untrained policy."""
    from crl.evaluation import environments, evaluate_seeds, wave_size

    state = agent_module(config).init(jax.random.PRNGKey(0), config, obs_dim, action_dim)
    policy = policy_for(stack([state]), config, action_dim, 1)
    tic = time.perf_counter()
    copies = min(5 * episodes, wave_size(env_id))
    environments(env_id, copies)  # building the environment copies, timed separately
    build = time.perf_counter() - tic
    tic = time.perf_counter()
    evaluate_seeds(env_id, policy, episodes, [0], progress=False)
    run = time.perf_counter() - tic
    return {"episodes": 5 * episodes, "copies": copies, "build_s": build, "run_s": run,
            "episodes_per_s": 5 * episodes / run}  # fmt: skip


def load_time(n: int, obs_dim: int, action_dim: int) -> float:
    """Seconds to read and validate an OGBench-format file of `n` rows (written as `crl data generate`
    writes it, compressed) and turn it into the regular layout, as `crl train` does."""
    import tempfile
    from pathlib import Path

    from crl.data.dataset import read_npz, to_layout
    from crl.data.generate import write_npz_atomic

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
