"""OGBench's evaluation protocol, with all episodes of an evaluation stepped side by side.

For each of the environment's evaluation tasks, N episodes start from the task's (noised) initial
state and goal; the policy acts deterministically until the episode ends (goal reached or time
limit), and success is the environment's success flag at the last step. Every episode gets its
own environment copy, and one batched policy call per step serves them all (in waves where the
copies are too large to hold all at once: see `wave_size`). A wave's copies are stepped in blocks,
side by side in worker processes (one per core, `block_workers`); the results do not depend on how
the episodes are split.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import gymnasium
import numpy as np
import ogbench  # noqa: F401  (registers the environments)
from tqdm import tqdm

from crl.workers import Inline, Worker, gather, usable_cores

Policy = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass
class EvalResult:
    task_success: dict[str, float]  # task name -> success rate
    episodes_per_task: int
    measures: dict[str, float] = field(default_factory=dict)  # more per-evaluation numbers (final_distance)

    @property
    def overall(self) -> float:
        return float(np.mean(list(self.task_success.values())))

    def as_dict(self) -> dict:
        return {
            "overall": self.overall,
            "episodes_per_task": self.episodes_per_task,
            "tasks": self.task_success,
            **self.measures,
        }


def episode_seed(seed: int, task_id: int, episode: int) -> list[int]:
    return [seed, task_id, episode]


def reset_episode(env: gymnasium.Env, seed: int, task_id: int, episode: int) -> tuple[np.ndarray, np.ndarray]:
    """Reset `env` to `task_id`; the start and goal depend only on (seed, task_id, episode)."""
    obs, info = start_episode(env, seed, task_id, episode)
    return obs, info["goal"]


def start_episode(
    env: gymnasium.Env, seed: int, task_id: int, episode: int, **options
) -> tuple[np.ndarray, dict]:
    """`reset_episode`, with more reset options (`render_goal`) and the whole info dict."""
    # OGBench environments noise the start and goal with NumPy's global generator.
    np.random.seed(episode_seed(seed, task_id, episode))
    env.action_space.seed(int(np.random.randint(2**31)))
    return env.reset(seed=int(np.random.randint(2**31)), options=dict(task_id=task_id, **options))


def step_seed(episode_stream: int, t: int) -> None:
    """Seed NumPy's global generator for step `t` of an episode: draws an environment makes while stepping
    (the teleport maze's exit, powderworld's simulation) depend on the episode and step alone, not on the
    other episodes stepped beside it."""
    np.random.seed((episode_stream + t) % 2**32)


_ENV_POOL: dict[str, list[gymnasium.Env]] = {}


def environments(env_id: str, count: int) -> list[gymnasium.Env]:
    """`count` copies of an environment, kept for the next evaluation (building one costs a model compile)."""
    pool = _ENV_POOL.setdefault(env_id, [])
    pool.extend(gymnasium.make(env_id) for _ in range(count - len(pool)))
    return pool[:count]


def wave_size(env_id: str) -> int:
    """Environment copies stepped at once. Each copy of OGBench's manipulation environments (cube,
    scene, puzzle) and of every pixel environment holds about 160 MB (measured: a renderer and its
    buffers), so 250 at once would not fit in 24 GiB: they run in waves of 24 (~4 GB). The maze
    environments take about 2 MB each and all run at once."""
    heavy = env_id.startswith("visual-") or env_id.split("-")[0] in ("cube", "scene", "puzzle")
    return 24 if heavy else 1024


def evaluate(env_id: str, policy: Policy, episodes: int, seed: int = 0, progress: bool = True) -> EvalResult:
    """Run `episodes` episodes of every evaluation task at once; return per-task success rates."""
    return evaluate_seeds(env_id, policy, episodes, [seed], progress)[0]


def evaluate_seeds(
    env_id: str, policy: Policy, episodes: int, seeds: list[int], progress: bool = True,
    max_envs: int | None = None, processes: int | None = None,
) -> list[EvalResult]:  # fmt: skip
    """Evaluate several seeds' policies in the same environment steps; one result per seed.

    Rows of the policy's batch are ordered seed-major (seed, task, episode), with as many rows per
    seed, so a policy made of stacked per-seed networks can reshape them to (seeds, rows per seed,
    ...). Episodes run in waves of at most `max_envs` copies (default: `wave_size`); each seed's
    episodes start exactly as in a one-seed, one-wave evaluation, so waves do not change results.
    `processes`: worker processes that step a wave's copies (default: see `block_workers`; 1: none).
    """
    probe = environments(env_id, 1)[0]
    task_infos = probe.unwrapped.task_infos
    per_seed = [(task_id, ep) for task_id in range(1, len(task_infos) + 1) for ep in range(episodes)]
    width = max(1, (max_envs or wave_size(env_id)) // len(seeds))
    success: dict[tuple[int, int, int], float] = {}
    caller_rng = np.random.get_state()  # the episodes seed NumPy's global generator; give it back after
    try:
        with tqdm(total=len(seeds) * len(per_seed), desc="evaluating", unit="episode",
                  disable=not progress, leave=False) as bar:  # fmt: skip
            for first in range(0, len(per_seed), width):
                wave = [(s, t, e) for s in seeds for t, e in per_seed[first : first + width]]
                success.update(zip(wave, _run_wave(env_id, policy, wave, bar, processes), strict=True))
    finally:
        np.random.set_state(caller_rng)
    return [
        EvalResult(
            {
                info["task_name"]: float(np.mean([success[(s, t, e)] for e in range(episodes)]))
                for t, info in enumerate(task_infos, start=1)
            },
            episodes,
        )  # fmt: skip
        for s in seeds
    ]


class EpisodeBlock:
    """Environment copies that run a contiguous block of one wave's episodes, in this process or in a
    worker. Given an `EnvSpec`, it registers it first (an environment registered by the caller, as tests
    do, is unknown in a fresh worker)."""

    def __init__(self, env: str | gymnasium.envs.registration.EnvSpec):
        if not isinstance(env, str):
            gymnasium.registry.setdefault(env.id, env)
            env = env.id
        self.env_id = env

    def reset(self, jobs: list) -> tuple[np.ndarray, np.ndarray]:
        """Start one episode per (seed, task, episode) job: (observations, goals)."""
        self.envs = environments(self.env_id, len(jobs))
        starts, self.step_seeds = [], []
        for env, job in zip(self.envs, jobs, strict=True):
            starts.append(reset_episode(env, *job))
            self.step_seeds.append(np.random.randint(2**31))  # still the episode's own stream
        self.obs = np.stack([s[0] for s in starts])
        self.running, self.success, self.t = np.ones(len(jobs), bool), np.zeros(len(jobs)), 0
        return self.obs.copy(), np.stack([s[1] for s in starts])

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One step of every running episode: (observations, still running, success)."""
        for i in np.flatnonzero(self.running):
            step_seed(self.step_seeds[i], self.t)
            self.obs[i], _, terminated, truncated, info = self.envs[i].step(actions[i])
            if terminated or truncated:
                self.running[i] = False
                self.success[i] = info["success"]
        self.t += 1
        return self.obs.copy(), self.running.copy(), self.success.copy()


MAX_WORKERS = 8
EPISODES_PER_WORKER = 12  # at least: fewer are stepped faster than one worker round trip per step pays for
_WORKERS: dict[str, list[Worker]] = {}


def block_workers(env_id: str, episodes: int, processes: int | None) -> list[Inline | Worker]:
    """Where a wave's blocks run: worker processes, one per usable core (at most MAX_WORKERS, and each with
    EPISODES_PER_WORKER or more), kept for the next wave and evaluation of the same environment (those of
    another are closed: a worker holds its copies, up to GBs of them); or this process alone."""
    if processes is None:
        processes = min(usable_cores(), MAX_WORKERS, episodes // EPISODES_PER_WORKER)
    if processes <= 1:
        return [Inline(EpisodeBlock(env_id))]
    for other in [other for other in _WORKERS if other != env_id]:
        _close_workers(other)
    pool = _WORKERS.setdefault(env_id, [])
    build = partial(EpisodeBlock, gymnasium.spec(env_id))
    pool.extend(Worker(build, f"{env_id}-{i}") for i in range(len(pool), processes))
    return pool[:processes]


def _close_workers(env_id: str) -> None:
    for worker in _WORKERS.pop(env_id, []):
        worker.close()


def _run_wave(env_id: str, policy: Policy, jobs: list, bar: tqdm, processes: int | None) -> np.ndarray:
    """Step one environment copy per (seed, task, episode) job until every episode has ended; the
    policy acts on all of them at once, the copies step in blocks side by side."""
    blocks = block_workers(env_id, len(jobs), processes)
    parts = np.array_split(np.arange(len(jobs)), len(blocks))
    try:
        for block, part in zip(blocks, parts, strict=True):
            block.send("reset", [jobs[i] for i in part])
        starts = gather(blocks)
        obs, goals = np.concatenate([o for o, _ in starts]), np.concatenate([g for _, g in starts])
        running, success = np.ones(len(jobs), bool), np.zeros(len(jobs))
        while running.any():  # every episode ends: the environments carry OGBench's time limits
            actions = np.asarray(policy(obs, goals))
            stepping = [k for k, part in enumerate(parts) if running[part].any()]
            for k in stepping:
                blocks[k].send("step", actions[parts[k]])
            for k, (block_obs, block_running, block_success) in zip(
                stepping, gather([blocks[k] for k in stepping]), strict=True
            ):
                part = parts[k]
                obs[part], success[part] = block_obs, block_success
                bar.update(int(np.sum(running[part] & ~block_running)))
                running[part] = block_running
        return success
    except BaseException:  # a failed or interrupted wave: its workers may hold stale state
        _close_workers(env_id)
        raise
