"""OGBench's evaluation protocol, with all episodes of an evaluation stepped side by side.

For each of the environment's evaluation tasks, N episodes start from the task's (noised) initial
state and goal; the policy acts deterministically until the episode ends (goal reached or time
limit), and success is the environment's success flag at the last step. Every episode gets its
own environment copy, and one batched policy call per step serves them all (in waves where the
copies are too large to hold all at once: see `wave_size`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import gymnasium
import numpy as np
import ogbench  # noqa: F401  (registers the environments)
from tqdm import tqdm

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
    max_envs: int | None = None,
) -> list[EvalResult]:  # fmt: skip
    """Evaluate several seeds' policies in the same environment steps; one result per seed.

    Rows of the policy's batch are ordered seed-major (seed, task, episode), with as many rows per
    seed, so a policy made of stacked per-seed networks can reshape them to (seeds, rows per seed,
    ...). Episodes run in waves of at most `max_envs` copies (default: `wave_size`); each seed's
    episodes start exactly as in a one-seed, one-wave evaluation, so waves do not change results.
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
                success.update(zip(wave, _run_wave(env_id, policy, wave, bar), strict=True))
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


def _run_wave(env_id: str, policy: Policy, jobs: list, bar: tqdm) -> np.ndarray:
    """Step one environment copy per (seed, task, episode) job until every episode has ended."""
    envs = environments(env_id, len(jobs))
    starts, step_seeds = [], []
    for env, job in zip(envs, jobs, strict=True):
        starts.append(reset_episode(env, *job))
        step_seeds.append(np.random.randint(2**31))  # still the episode's own stream
    obs = np.stack([s[0] for s in starts])
    goals = np.stack([s[1] for s in starts])
    running = np.ones(len(jobs), bool)
    success = np.zeros(len(jobs))
    t = 0
    while running.any():  # every episode ends: the environments carry OGBench's time limits
        actions = np.asarray(policy(obs, goals))
        for i in np.flatnonzero(running):
            step_seed(step_seeds[i], t)
            obs[i], _, terminated, truncated, info = envs[i].step(actions[i])
            if terminated or truncated:
                running[i] = False
                success[i] = info["success"]
                bar.update(1)
        t += 1
    return success
