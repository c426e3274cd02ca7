"""Online training on host environments (the robot tasks on native MuJoCo): environments step on the host
while the updates run as compiled programs on the device.

A round is one whole episode in each of the num_envs copies of every seed (collect = num_envs x episode
length transitions), and collect x update_ratio updates. The two overlap: a round's updates are dispatched
first (JAX runs them asynchronously) and the host steps the copies meanwhile, with one batched policy
call per step over every seed and copy, acting with the agent as it was before those updates. The round's
episodes join the replay after both. So round r's episodes come from the agent after round r - 1's
updates, and round r's updates learn from episodes up to round r - 1, like the paper's separate actors.

Every episode starts from a seed named by (run seed, copy, episode number), and no episode spans two
rounds, so (agent state, replay, counters) is the whole state of a run at any round's end: a resumed run
restarts its environments at the checkpoint and continues bit for bit.
"""

from __future__ import annotations

import time
from functools import partial
from typing import TYPE_CHECKING

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from crl.agents import agent_module, sample_and_update
from crl.config import AgentConfig, TrainConfig
from crl.data.images import is_image, storage_dtype
from crl.data.replay import Replay, empty_replay, insert
from crl.envs.robots import HostEnvs, RobotTask
from crl.evaluation import EvalResult
from crl.online import check_replay_fits, fresh_collectors, log_evaluation, rate_counts

if TYPE_CHECKING:
    from crl.train import Job

EVAL_COPIES = 50  # evaluation episodes stepped side by side, per seed
EVAL_SEED = 0x5EED  # the evaluation episodes: the same for every seed and every evaluation


class HostCollector(flax.struct.PyTreeNode):
    replay: Replay
    rng: jax.Array
    env_steps: jax.Array  # int32: transitions collected so far, over all copies
    episodes: jax.Array  # int32: episodes finished so far
    successes: jax.Array  # int32: of those, the ones that reached their goal


def init_collector(task: RobotTask, config: TrainConfig, seed: int) -> HostCollector:
    zero = jnp.zeros((), jnp.int32)
    coords_dim = len(task.tracked_dims) if is_image(task.obs_shape) else None  # frames keep the position
    replay = empty_replay(
        config.replay_size, task.episode_length, task.obs_shape, task.action_dim, task.goal_indices,
        coords_dim,
    )  # fmt: skip
    return HostCollector(replay, jax.random.fold_in(jax.random.PRNGKey(seed), 0x0E11), zero, zero, zero)


@partial(jax.jit, static_argnames=("agent_config", "updates"))
def update_round(states, replays: Replay, agent_config: AgentConfig, updates: int):
    """`updates` updates of every seed on its own replay; per-seed metrics averaged over them."""
    from crl.train import matmul_precision, per_seed

    def one_seed(state, replay):
        state, infos = jax.lax.scan(
            lambda s, _: sample_and_update(s, replay, agent_config), state, None, updates
        )
        return state, jax.tree.map(jnp.mean, infos)

    with matmul_precision(agent_config):
        return per_seed(one_seed, states, replays)


def acting_device() -> jax.Device:
    """Where the copies' policy runs: a CPU device other than the updates' where there is one (the CPU
    beside a GPU, or the CLI's second CPU device), so acting is not queued behind a round's updates."""
    return jax.devices("cpu")[-1]


@partial(jax.jit, static_argnames=("agent_config", "action_dim", "learned"))
def choose_actions(
    states, obs: jax.Array, goals: jax.Array, keys: jax.Array, t: int, agent_config: AgentConfig,
    action_dim: int, learned: bool,
) -> jax.Array:  # fmt: skip
    """(seeds, copies, action_dim) actions at step t: each seed's exploration policy, or uniform random
    actions before learning starts. `keys` are the seeds' keys of this round."""

    def one_seed(state, obs, goals, key):
        key = jax.random.fold_in(key, t)
        if not learned:
            return jax.random.uniform(key, (len(obs), action_dim), minval=-1.0, maxval=1.0)
        return agent_module(agent_config).explore(agent_config, action_dim, state, obs, goals, key)

    return jax.vmap(one_seed)(states, obs, goals, keys)


@jax.jit
def next_round_keys(rngs: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Each seed's next rng and its key for this round."""
    return jax.vmap(jax.random.split, out_axes=1)(rngs)


@partial(jax.jit, donate_argnums=0)  # the replays are updated in place: one copy of them, not two
def store_round(
    collectors: HostCollector, observations, actions, goals, acted, succeeded, coords=None
) -> HostCollector:  # fmt: skip
    """Each seed's finished episodes (and, for frames, the positions they show) into its replay, and the
    counts."""

    def one_seed(c: HostCollector, observations, actions, goals, acted, succeeded, coords):
        n, length = observations.shape[0], observations.shape[1] - 1
        return c.replace(
            replay=insert(c.replay, observations, actions, goals, acted, coords),
            env_steps=c.env_steps + n * length,
            episodes=c.episodes + n,
            successes=c.successes + jnp.sum(succeeded),
        )

    return jax.vmap(one_seed)(collectors, observations, actions, goals, acted, succeeded, coords)


def play_rounds(
    states, collectors, count: int, learn: bool, agent_config: AgentConfig, updates: int, collect
):
    """`count` rounds: each dispatches its updates, then `collect(acting states, keys, collectors)` steps
    the copies on the host meanwhile (acting with the states before those updates) and stores the round.
    Returns (states, collectors, the updates' metrics averaged over the rounds; {} before learning)."""
    infos = []
    for _ in range(count):
        rng, keys = next_round_keys(collectors.rng)  # before the updates, which it would wait for
        collectors = collectors.replace(rng=rng)
        acting = jax.device_put(states, acting_device())
        if learn:  # dispatched now, computed while the host steps the copies below
            states, info = update_round(states, collectors.replay, agent_config, updates)
            infos.append(info)
        collectors = collect(acting, keys, collectors)
    mean = partial(jax.tree.map, lambda *xs: jnp.mean(jnp.stack(xs), 0))
    return states, collectors, (jax.device_get(mean(*infos)) if learn else {})


class HostRounds:
    """The host side of a run: every seed's copies, and how a round of episodes is collected."""

    def __init__(self, task: RobotTask, config: TrainConfig, agent_config: AgentConfig, seeds: list[int]):
        self.task, self.agent_config, self.seeds = task, agent_config, seeds
        self.num_envs = config.num_envs
        self.envs = HostEnvs(task, len(seeds) * config.num_envs, seed=seeds[0])

    def collect(self, acting_states, keys: jax.Array, first_episode: np.ndarray, learned: bool):
        """One episode in every copy of every seed, acted by `acting_states`: arrays shaped (seeds,
        copies, ...) for `store_round` (for frames, with the tracked positions they show). Copy c of seed s
        plays its episode number first_episode[s] + c."""
        task, n_seeds, n = self.task, len(self.seeds), self.num_envs
        names = [(seed, int(first_episode[s]) + c) for s, seed in enumerate(self.seeds) for c in range(n)]
        states, goals = self.envs.reset(names)
        observations = np.zeros(
            (len(names), task.episode_length + 1, *task.obs_shape), storage_dtype(task.obs_shape)
        )
        actions = np.zeros((len(names), task.episode_length + 1, task.action_dim), np.float32)
        observations[:, 0] = states
        coords = None  # frames: the tracked positions they show, for TD3 + HER's reward
        if is_image(task.obs_shape):
            coords = np.zeros((len(names), task.episode_length + 1, len(task.tracked_dims)), np.float32)
            coords[:, 0] = self.envs.positions(states)
        device = acting_device()
        goals_by_seed, keys = jax.device_put((goals.reshape(n_seeds, n, *goals.shape[1:]), keys), device)
        for t in range(task.episode_length):
            chosen = choose_actions(
                acting_states, jax.device_put(states.reshape(n_seeds, n, *states.shape[1:]), device),
                goals_by_seed, keys, t, self.agent_config, task.action_dim, learned,
            )  # fmt: skip
            actions[:, t] = np.asarray(chosen).reshape(len(names), -1)
            states = self.envs.step(actions[:, t])
            observations[:, t + 1] = states
            if coords is not None:
                coords[:, t + 1] = self.envs.positions(states)
        acted = np.zeros((len(names), task.episode_length + 1), bool)
        acted[:, : task.episode_length] = learned

        def by_seed(x):
            return x.reshape(n_seeds, n, *x.shape[1:])

        episodes = (observations, actions, goals, acted, self.envs.succeeded)
        return (*map(by_seed, episodes), None if coords is None else by_seed(coords))


def evaluate_host(
    task: RobotTask, states, agent_config: AgentConfig, episodes: int, envs: HostEnvs
) -> tuple[np.ndarray, np.ndarray]:
    """Each seed's success rate over the evaluation episodes (deterministic policy), and its mean final
    distance to the goal; `envs` holds the same number of copies for every seed, which step side by side."""
    from crl.train import policy_for

    n_seeds = jax.tree.leaves(states)[0].shape[0]
    copies = len(envs) // n_seeds
    policy = policy_for(states, agent_config, task.action_dim, n_seeds)
    successes, distances = np.zeros(n_seeds), np.zeros(n_seeds)
    for first in range(0, episodes, copies):
        obs, goals = envs.reset([(EVAL_SEED, first + j) for _ in range(n_seeds) for j in range(copies)])
        for _ in range(task.episode_length):
            obs = envs.step(policy(obs, goals))
        counted = min(copies, episodes - first)
        successes += envs.succeeded.reshape(n_seeds, copies)[:, :counted].sum(1)
        distances += envs.distances(obs).reshape(n_seeds, copies)[:, :counted].sum(1)
    return successes / episodes, distances / episodes


def host_job(config: TrainConfig, task: RobotTask, seeds: list[int], logs: list) -> Job:
    """The chunk loop's view of a run on a host task: its carry is (agent states, collectors)."""
    from crl.train import Job, abstract, initial_states, unstack

    agent_config = config.agent.for_run(config.steps)
    updates = round(config.collect * config.update_ratio)
    lazy: dict[str, object] = {}  # simulators, made on first use (evaluating a run needs no training copies)

    def fresh(seed_list):
        check_replay_fits(lambda: init_collector(task, config, 0), config, len(seed_list))
        states = initial_states(agent_config, seed_list, task.obs_shape, task.action_dim, task.goal_shape)
        return states, fresh_collectors(lambda seed: init_collector(task, config, seed), seed_list)

    def advance(carry, step: int, end: int):
        if "rounds" not in lazy:
            lazy["rounds"] = HostRounds(task, config, agent_config, seeds)
        rounds = lazy["rounds"]
        states, collectors = carry
        learn = step >= config.random_steps
        tic = time.perf_counter()
        episodes, successes = np.asarray(collectors.episodes), np.asarray(collectors.successes)

        def collect(acting, keys, c):  # copy k of seed s plays its episode number c.episodes[s] + k
            return store_round(c, *rounds.collect(acting, keys, np.asarray(c.episodes), learn))

        states, collectors, metrics = play_rounds(
            states, collectors, (end - step) // config.collect, learn, agent_config, updates, collect
        )
        finished = np.asarray(collectors.episodes - episodes)
        counts = {
            "online/episodes": finished.astype(np.float32),
            "online/success": np.asarray(collectors.successes - successes) / np.maximum(finished, 1),
            "online/replay_fill": np.asarray(jax.vmap(lambda r: r.filled / r.capacity)(collectors.replay)),
        }
        speed = rate_counts(config, len(seeds), step, end, time.perf_counter() - tic, learn)
        return (states, collectors), metrics | counts | speed

    def evaluate(step: int, carry) -> list[EvalResult]:
        if "eval" not in lazy:
            copies = min(EVAL_COPIES, config.eval_episodes)
            lazy["eval"] = HostEnvs(task, len(seeds) * copies, seed=EVAL_SEED)
        envs = lazy["eval"]
        rates, distances = evaluate_host(task, carry[0], agent_config, config.eval_episodes, envs)
        return log_evaluation(config, logs, step, rates, distances)

    return Job(
        initial=lambda: fresh(seeds),
        template=lambda: abstract(lambda: unstack(fresh([0]), 0)),
        advance=advance,
        evaluate=evaluate,
        unit="env step",
    )
